package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// wedgeBin builds the daemon once per test run.
func wedgeBin(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wedge-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "wedge")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-o", binPath, "./appliance/cmd/wedge")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// daemon is one running wedge process.
type daemon struct {
	t       testing.TB
	cmd     *exec.Cmd
	mqtt    string
	ws      string
	api     string
	dataDir string
	stdout  *syncBuf
	stderr  *syncBuf
	done    chan error
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type startOpt struct {
	dataDir string
	config  string
	env     []string
	// noAdminPassword leaves api.admin_password unset (the first start generates one).
	noAdminPassword bool
}

// start runs wedge on free loopback ports and waits for /healthz.
func start(t testing.TB, o startOpt) *daemon {
	t.Helper()
	if o.dataDir == "" {
		o.dataDir = t.TempDir()
	}
	d := &daemon{t: t, mqtt: freePort(t), ws: freePort(t), api: freePort(t), dataDir: o.dataDir,
		stdout: &syncBuf{}, stderr: &syncBuf{}, done: make(chan error, 1)}
	args := []string{"run", "--data-dir", o.dataDir}
	if o.config != "" {
		args = append(args, "--config", o.config)
	}
	d.cmd = exec.Command(wedgeBin(t), args...)
	d.cmd.Env = append(os.Environ(),
		"WEDGE_MQTT_TCP="+d.mqtt, "WEDGE_MQTT_WS="+d.ws, "WEDGE_API_LISTEN="+d.api,
		"WEDGE_COAP_LISTEN=127.0.0.1:0", "WEDGE_LWM2M_LISTEN=127.0.0.1:0")
	if !o.noAdminPassword {
		d.cmd.Env = append(d.cmd.Env, "WEDGE_API_ADMIN_PASSWORD="+adminPassword)
	}
	d.cmd.Env = append(d.cmd.Env, o.env...)
	d.cmd.Stdout, d.cmd.Stderr = d.stdout, d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() { d.kill() })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-d.done:
			d.done <- err
			t.Fatalf("wedge exited at start: %v\n%s", err, d.stderr)
		default:
		}
		if resp, err := http.Get("http://" + d.api + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return d
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("wedge not ready after 10s\n%s", d.stderr)
	return nil
}

// stop sends SIGTERM and waits for a clean exit.
func (d *daemon) stop() {
	d.t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			d.t.Fatalf("wedge exited with %v after SIGTERM\n%s", err, d.stderr)
		}
		d.done <- nil
	case <-time.After(15 * time.Second):
		d.t.Fatalf("wedge did not stop within 15s of SIGTERM\n%s", d.stderr)
	}
}

func (d *daemon) kill() {
	if d.cmd.ProcessState == nil {
		_ = d.cmd.Process.Kill()
		select {
		case <-d.done:
		case <-time.After(5 * time.Second):
		}
	}
}

// mqttConn is a minimal MQTT 3.1.1 client written from the specification, so this package
// depends on nothing but the wire protocol.
type mqttConn struct {
	last byte // the fixed header byte of the last packet read
	t    *testing.T
	c    net.Conn
	r    *bufio.Reader
	id   uint16
}

func dialMQTT(t *testing.T, addr, clientID string, clean bool) (*mqttConn, bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	m := &mqttConn{t: t, c: c, r: bufio.NewReader(c)}
	flags := byte(0)
	if clean {
		flags = 0x02
	}
	var vh []byte
	vh = append(vh, str("MQTT")...)
	vh = append(vh, 4, flags, 0, 30)
	vh = append(vh, str(clientID)...)
	m.write(0x10, vh)
	typ, body := m.read(5 * time.Second)
	if typ != 2 || len(body) != 2 || body[1] != 0 {
		t.Fatalf("connack: type %d body %v", typ, body)
	}
	return m, body[0]&1 == 1
}

func str(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }

func (m *mqttConn) write(h byte, body []byte) {
	m.t.Helper()
	pk := []byte{h}
	n := len(body)
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 128
		}
		pk = append(pk, b)
		if n == 0 {
			break
		}
	}
	pk = append(pk, body...)
	_ = m.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := m.c.Write(pk); err != nil {
		m.t.Fatal(err)
	}
}

func (m *mqttConn) read(d time.Duration) (byte, []byte) {
	m.t.Helper()
	typ, body, err := m.tryRead(d)
	if err != nil {
		m.t.Fatalf("read: %v", err)
	}
	return typ, body
}

func (m *mqttConn) tryRead(d time.Duration) (byte, []byte, error) {
	_ = m.c.SetReadDeadline(time.Now().Add(d))
	h, err := m.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mul := 0, 1
	for {
		b, err := m.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&127) * mul
		mul *= 128
		if b&128 == 0 {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(m.r, body); err != nil {
		return 0, nil, err
	}
	m.last = h
	return h >> 4, body, nil
}

func (m *mqttConn) subscribe(filter string, qos byte) {
	m.t.Helper()
	m.id++
	m.write(0x82, append(append([]byte{byte(m.id >> 8), byte(m.id)}, str(filter)...), qos))
	if typ, _ := m.read(5 * time.Second); typ != 9 {
		m.t.Fatalf("suback: type %d", typ)
	}
}

func (m *mqttConn) publish(topic, payload string, qos byte, retain bool) {
	m.t.Helper()
	h := byte(0x30) | qos<<1
	if retain {
		h |= 1
	}
	body := str(topic)
	if qos > 0 {
		m.id++
		body = append(body, byte(m.id>>8), byte(m.id))
	}
	m.write(h, append(body, payload...))
	if qos == 1 {
		if typ, _ := m.read(5 * time.Second); typ != 4 {
			m.t.Fatalf("puback: type %d", typ)
		}
	}
}

// message reads one PUBLISH (acknowledging QoS 1) and returns topic, payload, retain.
func (m *mqttConn) message(d time.Duration) (string, string, bool, error) {
	typ, body, err := m.tryRead(d)
	if err != nil {
		return "", "", false, err
	}
	if typ != 3 {
		return "", "", false, fmt.Errorf("packet type %d, want PUBLISH", typ)
	}
	tl := int(body[0])<<8 | int(body[1])
	topic := string(body[2 : 2+tl])
	rest := body[2+tl:]
	if (m.last>>1)&3 > 0 {
		id := rest[:2]
		rest = rest[2:]
		m.write(0x40, id)
	}
	return topic, string(rest), m.last&1 == 1, nil
}

func (m *mqttConn) disconnect() { m.write(0xE0, nil) }

// adminPassword is set for every daemon the tests start, so they can use the API.
const adminPassword = "e2e-admin-pw"

// apiGet calls the REST API as admin and returns the body.
func (d *daemon) apiGet(t testing.TB, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+d.api+path, nil)
	req.SetBasicAuth("admin", adminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
