//go:build unix

package broker

import "syscall"

// canTryWrite: this platform can try a socket write without blocking.
const canTryWrite = true

// tryWrite writes what the socket takes of p at once, without waiting for room.
func tryWrite(raw syscall.RawConn, p []byte) (int, error) {
	var n int
	var werr error
	err := raw.Write(func(fd uintptr) bool {
		n, werr = syscall.Write(int(fd), p)
		return true // never wait: what is left goes to the flusher
	})
	if err != nil {
		return 0, err
	}
	if werr == syscall.EAGAIN || werr == syscall.EINTR {
		return 0, nil
	}
	if werr != nil {
		return 0, werr
	}
	return n, nil
}
