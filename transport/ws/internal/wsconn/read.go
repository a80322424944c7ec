package wsconn

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Reading. A connection's client frames are read either on a goroutine
// of its own for the connection's whole life (no poller: systems without
// epoll, or a caller that wants it so), or only when the Poller finds the
// socket readable. Then the Reader borrows a read buffer from the node's
// Buffers, reads and hands over what has arrived, lingers for
// ReadConfig.Linger in case more follows (a driver streaming positions
// keeps its reader), and hands the socket back to the poller. An idle
// connection therefore holds no goroutine and no read buffer, only its
// state.

// Buffers pools the read buffers of the connections that read through
// the poller; one per node. A buffer is lent for one round of reading.
type Buffers struct {
	size int
	pool sync.Pool
}

// NewBuffers makes a pool of read buffers of size bytes (at least 64, so
// that a frame header fits).
func NewBuffers(size int) *Buffers {
	b := &Buffers{size: max(size, 64)}
	b.pool.New = func() any { return bufio.NewReaderSize(nil, b.size) }
	return b
}

// ReadConfig is how a Reader reads.
type ReadConfig struct {
	// Limit is the largest message payload (FrameReader.Limit).
	Limit int64
	// Timeout is the read deadline of each frame: a client silent for
	// that long ends the reading with a timeout error.
	Timeout time.Duration
	// Linger is how long a poller's reader waits for another frame before
	// it hands the socket back to the poller.
	Linger time.Duration
	// Buffers lends the read buffers; the blocking reader keeps a buffer
	// of the same size of its own.
	Buffers *Buffers
}

// Handler takes what a Reader reads. Its methods are called one at a
// time, under the Reader's lock, never after Stop has returned: state that
// only they touch needs no lock of its own.
type Handler interface {
	// Frame handles one frame: a control frame (OpPing, OpPong, OpClose),
	// a complete message (OpText, OpBinary) or, with OpContinuation and
	// no payload, a fragment of a message still incomplete. False ends
	// the reading for good.
	Frame(op byte, payload []byte) bool
	// ReadFailed tells why the reading ended: a *FrameError, or the
	// socket's error (a timeout is a client silent for Timeout, io.EOF a
	// clean end).
	ReadFailed(err error)
	// ArmFailed tells that the poller could not watch the socket again;
	// the reading has ended.
	ArmFailed(err error)
}

// Reader reads one connection's frames and hands them to its Handler.
//
// Concurrency: mu is held while frames are read and handled, so the
// frame reader and the handler's state have one owner at a time even
// though successive rounds may run on different goroutines (each round
// of the poller's starts on a new one); done, also under mu, is set once
// the reading has ended for good. reg is set once by Start and removed by
// Release, from the connection's writer.
type Reader struct {
	conn net.Conn
	cfg  ReadConfig
	h    Handler
	reg  atomic.Pointer[Registration] // nil when reading on a goroutine of its own

	mu   sync.Mutex
	done bool
	fr   FrameReader
}

// NewReader makes the reader of conn, the raw socket (reads bypass
// whatever library writes to it); it reads nothing before Start.
func NewReader(conn net.Conn, cfg ReadConfig, h Handler) *Reader {
	return &Reader{conn: conn, cfg: cfg, h: h, fr: FrameReader{Limit: cfg.Limit}}
}

// Start begins reading: through p when p is not nil and can watch the
// socket, otherwise on a goroutine of its own. It returns why p could not
// be used (nil when it is used, or was nil); the reading has started
// either way.
func (r *Reader) Start(p *Poller) error {
	if p == nil {
		go r.readBlocking()
		return nil
	}
	reg, err := p.Add(r.conn, r.onReadable)
	if err == nil {
		r.reg.Store(reg)
		if err = reg.Arm(); err == nil {
			return nil
		}
		reg.Remove()
		r.reg.Store(nil)
	}
	go r.readBlocking()
	return err
}

// Release forgets the socket's poller registration. It must run before
// the socket is closed: afterwards its descriptor may belong to another
// connection. It takes no lock of the Reader's and may run beside a read.
func (r *Reader) Release() {
	if reg := r.reg.Load(); reg != nil {
		reg.Remove()
	}
}

// Stop waits for a running round of reading (which ends once the socket
// is closed) and ends the reading for good: the Handler is not called
// again.
func (r *Reader) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = true
}

// readBlocking reads until the connection ends.
func (r *Reader) readBlocking() {
	r.mu.Lock()
	defer r.mu.Unlock()
	br := bufio.NewReaderSize(r.conn, r.cfg.Buffers.size)
	for !r.done {
		_ = r.conn.SetReadDeadline(time.Now().Add(r.cfg.Timeout))
		_, ok := r.readFrame(br)
		r.done = !ok
	}
}

// onReadable reads what the poller found waiting, then waits for more
// for up to Linger, then arms the poller again.
func (r *Reader) onReadable() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return
	}
	br := r.cfg.Buffers.pool.Get().(*bufio.Reader)
	br.Reset(r.conn)
	defer func() {
		br.Reset(nil)
		r.cfg.Buffers.pool.Put(br)
	}()
	for {
		_ = r.conn.SetReadDeadline(time.Now().Add(r.cfg.Timeout))
		op, ok := r.readFrame(br)
		if !ok {
			r.done = true
			return
		}
		if br.Buffered() > 0 {
			continue
		}
		if op == OpPong || op == OpPing {
			break // keep-alives come one at a time: nothing follows
		}
		// Peek does not consume: a timeout here, before the next frame's
		// first byte, loses nothing.
		_ = r.conn.SetReadDeadline(time.Now().Add(r.cfg.Linger))
		if _, err := br.Peek(1); err != nil {
			if isTimeout(err) {
				break
			}
			r.h.ReadFailed(err)
			r.done = true
			return
		}
	}
	if err := r.reg.Load().Arm(); err != nil {
		r.done = true
		r.h.ArmFailed(err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readFrame reads one frame and hands it to the handler; it returns the
// frame's opcode, and false once the reading is to end.
func (r *Reader) readFrame(br *bufio.Reader) (op byte, ok bool) {
	op, payload, err := r.fr.Next(br)
	if err != nil {
		r.h.ReadFailed(err)
		return op, false
	}
	return op, r.h.Frame(op, payload)
}
