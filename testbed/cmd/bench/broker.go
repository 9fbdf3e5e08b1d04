package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// brokerKind says how to start one broker under test.
type brokerKind struct {
	// name labels the broker in the table: wedge, mochi or mosquitto.
	name string
	// path is its executable.
	path string
	// command builds the command that starts it on addr with its files in dir.
	command func(path, dir, addr string) (*exec.Cmd, error)
}

// runningBroker is a started broker process.
type runningBroker struct {
	kind  brokerKind
	cmd   *exec.Cmd
	addr  string
	ready time.Duration // from process start to the first accepted TCP connection
	log   string
	done  chan struct{}
}

func wedgeCommand(path, dir, addr string) (*exec.Cmd, error) {
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, "run", "--data-dir", filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(),
		"WEDGE_MQTT_TCP="+addr,
		"WEDGE_MQTT_WS="+ports[0],
		"WEDGE_API_LISTEN="+ports[1],
		"WEDGE_COAP_LISTEN="+ports[2],
		"WEDGE_LWM2M_LISTEN="+ports[3],
		"WEDGE_API_ADMIN_PASSWORD=bench-admin",
	)
	return cmd, nil
}

func mochiCommand(path, _, addr string) (*exec.Cmd, error) {
	return exec.Command(path, "-addr", addr), nil
}

// mosquittoCommand runs mosquitto at its defaults apart from what a local
// benchmark needs: a loopback listener, anonymous access, no persistence and
// no connection cap. max_queued_messages stays at its default (1000).
func mosquittoCommand(path, dir, addr string) (*exec.Cmd, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	body := strings.Join([]string{
		"listener " + port + " " + host,
		"allow_anonymous true",
		"persistence false",
		"max_connections -1",
		"log_dest stderr",
		"log_type error",
		"log_type warning",
		"",
	}, "\n")
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		return nil, fmt.Errorf("write mosquitto config: %w", err)
	}
	// mosquitto started as root drops to user mosquitto: let it read its config.
	_ = os.Chmod(dir, 0o755)
	return exec.Command(path, "-c", conf), nil
}

// freePorts returns n distinct loopback addresses that were free a moment ago.
func freePorts(n int) ([]string, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

// startBroker starts kind in a fresh directory under workDir and waits until
// it accepts TCP connections (at most timeout).
func startBroker(kind brokerKind, workDir string, timeout time.Duration) (*runningBroker, error) {
	dir, err := os.MkdirTemp(workDir, kind.name+"-")
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", kind.name, err)
	}
	addrs, err := freePorts(1)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", kind.name, err)
	}
	addr := addrs[0]
	cmd, err := kind.command(kind.path, dir, addr)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", kind.name, err)
	}
	logPath := filepath.Join(dir, "broker.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", kind.name, err)
	}
	defer logf.Close() // the child keeps its own descriptor
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", kind.name, err)
	}
	t0 := time.Now()
	b := &runningBroker{kind: kind, cmd: cmd, addr: addr, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(b.done) }()
	deadline := t0.Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 50*time.Millisecond)
		if err == nil {
			b.ready = time.Since(t0)
			_ = c.Close()
			return b, nil
		}
		select {
		case <-b.done:
			return nil, fmt.Errorf("start %s: exited before accepting connections (%v); log %s:\n%s", kind.name, cmd.ProcessState, logPath, tail(logPath))
		default:
		}
		if time.Now().After(deadline) {
			b.stop()
			return nil, fmt.Errorf("start %s: not accepting on %s after %v; log %s:\n%s", kind.name, addr, timeout, logPath, tail(logPath))
		}
		time.Sleep(time.Millisecond)
	}
}

// pid returns the broker's process id.
func (b *runningBroker) pid() int { return b.cmd.Process.Pid }

// alive reports whether the process is still running.
func (b *runningBroker) alive() bool {
	select {
	case <-b.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM, waits up to 10s, then kills the process group.
func (b *runningBroker) stop() {
	if !b.alive() {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
		return
	case <-time.After(10 * time.Second):
	}
	_ = syscall.Kill(-b.pid(), syscall.SIGKILL)
	<-b.done
}

// tail returns the last lines of a log file.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// runLoadgen runs the loadgen binary with args and returns its stdout.
func runLoadgen(ctx context.Context, path string, args []string, logPath string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stderr = logf
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || ctx.Err() != nil {
			return nil, fmt.Errorf("loadgen %s: %w (%v); log %s:\n%s", strings.Join(args, " "), err, ctx.Err(), logPath, tail(logPath))
		}
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	return out, nil
}

// itoa is strconv.Itoa, short for argument lists.
func itoa(n int) string { return strconv.Itoa(n) }
