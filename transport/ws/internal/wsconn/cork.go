package wsconn

import (
	"bufio"
	"net"
	"net/http"
	"sync"
)

// CorkBufferKeep is the largest write buffer a CorkedConn keeps between
// batches; a bigger one (a burst) is dropped after its flush, so idle
// connections hold none.
const CorkBufferKeep = 16 << 10

// CorkedConn is the socket under a session's WebSocket. While corked it
// gathers writes in memory; Uncork sends them in one write. The session's
// writer corks around a batch of queued frames, so a burst of N frames costs one
// system call instead of N (the coalescing that lets a node keep up with
// fan-out). Uncorked, writes pass straight through (the handshake, pings,
// the pongs the reader answers while the writer is idle).
//
// Its methods are safe for concurrent use: mu guards corked and buf, so a
// pong written while a batch is corked joins the batch. Reads go straight
// to the embedded Conn, which is also what a reader should use.
type CorkedConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    []byte
}

// Write gathers p while corked, or writes it through.
func (c *CorkedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// Cork gathers the writes that follow until Uncork.
func (c *CorkedConn) Cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// Uncork writes what was gathered, in one write, and passes later writes
// through.
func (c *CorkedConn) Uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	if cap(c.buf) > CorkBufferKeep {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	return err
}

// CorkingWriter hands the upgrader a CorkedConn when it hijacks the
// request's connection: wrap the handler's ResponseWriter in one and pass
// it to the upgrader.
type CorkingWriter struct {
	http.ResponseWriter
	conn *CorkedConn
}

// Conn is the hijacked connection, nil until the upgrader has hijacked it
// (and when hijacking failed).
func (w *CorkingWriter) Conn() *CorkedConn { return w.conn }

// Hijack hijacks the underlying connection and wraps it in a CorkedConn.
func (w *CorkingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	nc, rw, err := h.Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &CorkedConn{Conn: nc}
	return w.conn, rw, nil
}
