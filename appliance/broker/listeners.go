package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// netListener serves MQTT on an already bound net.Listener (plain TCP or TLS). Binding happens
// in Broker.Start, so a port in use fails the start instead of a goroutine's log line.
type netListener struct {
	id, proto string
	ln        net.Listener
	log       *slog.Logger
	b         *Broker
	closed    atomic.Bool
	wg        sync.WaitGroup
}

func (l *netListener) ID() string                { return l.id }
func (l *netListener) Address() string           { return l.ln.Addr().String() }
func (l *netListener) Protocol() string          { return l.proto }
func (l *netListener) Init(_ *slog.Logger) error { return nil }

func (l *netListener) Serve(establish listeners.EstablishFn) {
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if l.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond) // EMFILE and friends: back off, keep serving
				continue
			}
			l.log.Warn("accept failed", "listener", l.id, "error", err)
			time.Sleep(5 * time.Millisecond)
			continue
		}
		l.b.counters.Accepted.Add(1)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			if err := l.b.establish(establish, l.id, conn); err != nil && !routineDisconnect(err) {
				l.log.Debug("connection ended", "listener", l.id, "remote", conn.RemoteAddr().String(), "error", err)
			}
		}()
	}
}

func (l *netListener) Close(closeClients listeners.CloseFn) {
	if l.closed.Swap(true) {
		return
	}
	_ = l.ln.Close()
	closeClients(l.id)
}

// routineDisconnect reports errors that end a connection in the ordinary way.
func routineDisconnect(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}

// wsListener serves MQTT over WebSocket (subprotocol "mqtt") on an already bound listener.
type wsListener struct {
	id        string
	ln        net.Listener
	log       *slog.Logger
	b         *Broker
	srv       *http.Server
	upgrader  websocket.Upgrader
	establish listeners.EstablishFn
}

func (l *wsListener) ID() string       { return l.id }
func (l *wsListener) Address() string  { return l.ln.Addr().String() }
func (l *wsListener) Protocol() string { return "ws" }

// Init builds the HTTP server (Serve only starts it), so Close never races with Serve.
func (l *wsListener) Init(_ *slog.Logger) error {
	l.upgrader = websocket.Upgrader{
		Subprotocols:    []string{"mqtt", "mqttv3.1"},
		CheckOrigin:     func(*http.Request) bool { return true },
		ReadBufferSize:  1024,
		WriteBufferSize: 1024,
	}
	l.srv = &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := l.upgrader.Upgrade(w, r, nil)
			if err != nil {
				return // the upgrader has answered with the HTTP error
			}
			l.b.counters.Accepted.Add(1)
			defer c.Close()
			if err := l.b.establish(l.establish, l.id, &wsConn{Conn: c.UnderlyingConn(), ws: c}); err != nil && !routineDisconnect(err) {
				l.log.Debug("websocket connection ended", "listener", l.id, "error", err)
			}
		}),
	}
	return nil
}

func (l *wsListener) Serve(establish listeners.EstablishFn) {
	l.establish = establish // set before srv.Serve starts the handlers' goroutines
	if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		l.log.Error("websocket listener stopped", "listener", l.id, "error", err)
	}
}

func (l *wsListener) Close(closeClients listeners.CloseFn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = l.srv.Shutdown(ctx)
	_ = l.ln.Close()
	closeClients(l.id)
}

// wsConn adapts a WebSocket to the byte stream MQTT expects: reads continue across binary
// messages, each write is one binary message.
type wsConn struct {
	net.Conn
	ws *websocket.Conn
	r  io.Reader
	mu sync.Mutex
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			mt, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if mt != websocket.BinaryMessage {
				return 0, errors.New("websocket: MQTT needs binary frames")
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) Close() error { return c.ws.Close() }

// SetDeadline sets both deadlines; the write deadline is serialised with writes (gorilla's
// connection is not safe for a concurrent deadline change and write).
func (c *wsConn) SetDeadline(t time.Time) error {
	if err := c.ws.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *wsConn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

func (c *wsConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ws.SetWriteDeadline(t)
}
