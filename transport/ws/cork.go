package ws

import (
	"bufio"
	"net"
	"net/http"
	"sync"
)

// corkBufferKeep is the largest write buffer a session keeps between
// batches; a bigger one (a burst) is dropped after its flush, so idle
// sessions hold none.
const corkBufferKeep = 16 << 10

// corkedConn is the socket under a session's WebSocket. While corked it
// gathers writes in memory; uncork sends them in one write. The writer
// corks around a batch of queued frames, so a burst of N frames costs one
// system call instead of N (the coalescing that lets a node keep up with
// fan-out). Uncorked, writes pass straight through (the handshake, pings,
// the pongs the reader answers while the writer is idle).
type corkedConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    []byte
}

func (c *corkedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *corkedConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork writes what was gathered, in one write, and passes later writes
// through.
func (c *corkedConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	if cap(c.buf) > corkBufferKeep {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	return err
}

// corkingWriter hands the upgrader a corkedConn when it hijacks the
// request's connection.
type corkingWriter struct {
	http.ResponseWriter
	conn *corkedConn
}

func (w *corkingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	nc, rw, err := h.Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &corkedConn{Conn: nc}
	return w.conn, rw, nil
}
