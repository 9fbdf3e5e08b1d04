// Package baremochi builds the benchmark's baseline: a mochi-mqtt v2 server
// at its defaults (mqtt.New(nil)) that lets every client in, with one TCP
// listener. cmd/baremochi runs it as a process; tests start it in-process.
package baremochi

import (
	"fmt"
	"log/slog"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Start builds the server, listens on addr (host:port; port 0 picks a free
// one) and serves in the background. It returns the server and the address
// it listens on; the caller stops it with Close.
func Start(addr string, log *slog.Logger) (*mqtt.Server, string, error) {
	server := mqtt.New(nil)
	if log != nil {
		server.Log = log
	}
	if err := server.AddHook(new(AllowAll), nil); err != nil {
		return nil, "", fmt.Errorf("add allow-all hook: %w", err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})
	if err := server.AddListener(l); err != nil {
		return nil, "", fmt.Errorf("listen on %s: %w", addr, err)
	}
	if err := server.Serve(); err != nil {
		_ = server.Close()
		return nil, "", fmt.Errorf("serve: %w", err)
	}
	return server, l.Address(), nil
}

// AllowAll lets every client connect, publish and subscribe, like mochi's
// auth.AllowHook (written here to keep that package's YAML dependency out of
// the build).
type AllowAll struct {
	mqtt.HookBase
}

// ID names the hook.
func (h *AllowAll) ID() string { return "allow-all" }

// Provides says which events the hook handles.
func (h *AllowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

// OnConnectAuthenticate accepts every client.
func (h *AllowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

// OnACLCheck allows every topic.
func (h *AllowAll) OnACLCheck(*mqtt.Client, string, bool) bool { return true }
