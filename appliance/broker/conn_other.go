//go:build !unix

package broker

import (
	"errors"
	"syscall"
)

// canTryWrite: elsewhere every write of a plain TCP connection goes through the flusher.
const canTryWrite = false

func tryWrite(syscall.RawConn, []byte) (int, error) {
	return 0, errors.New("not supported")
}
