//go:build linux

package wsconn

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/outrider/outrider/internal/gopool"
	"golang.org/x/sys/unix"
)

// Poller is one epoll instance for the whole gateway: idle sessions wait
// on it instead of each keeping a goroutine blocked in a read. Each
// registration is armed one-shot: when its socket becomes readable the
// Poller starts its ready function on a new goroutine, once, and the
// registration's owner arms it again when it has read what arrived.
//
// Locks: Poller.mu guards regs and gen (taken by Add, Remove and, to look
// a descriptor up, the loop); Registration.mu serialises Arm and Remove.
// Remove takes Registration.mu, then Poller.mu; nothing takes them the
// other way round.
//
// The sockets stay registered with the Go runtime's own poller too (the
// reads themselves are ordinary net.Conn reads); epoll lets one file
// descriptor sit in several instances.
type Poller struct {
	epfd int // the epoll instance
	wake int // an eventfd that wakes the loop to stop
	done chan struct{}
	stop atomic.Bool

	mu   sync.Mutex
	regs map[int32]*Registration // by file descriptor
	gen  int32                   // tells a reused descriptor's registrations apart

	// readers run the ready callbacks on kept goroutines: a reader goes
	// deep (frame, JSON, the driver actor's tell), and a fresh goroutine
	// per readable socket grew its stack from scratch every time.
	readers *gopool.Pool
}

// Registration is one socket's registration.
type Registration struct {
	p     *Poller
	fd    int32
	gen   int32
	ready func()

	mu      sync.Mutex // serialises Arm and Remove
	added   bool       // in the epoll set
	removed bool       // for good: the socket is about to close
}

// ErrNotPollable is Add's answer for a connection without a socket to
// watch (and NewPoller's on systems without epoll); the caller then reads
// on a goroutine of its own.
var ErrNotPollable = errors.New("connection has no file descriptor to poll")

// NewPoller creates the epoll instance and starts its loop; Close stops
// it. keep is how long a reader goroutine waits for the next readable
// socket before it ends (gopool.DefaultKeep if ≤ 0).
func NewPoller(keep time.Duration) (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wake)
		return nil, fmt.Errorf("epoll_ctl eventfd: %w", err)
	}
	p := &Poller{epfd: epfd, wake: wake, done: make(chan struct{}), regs: map[int32]*Registration{}, readers: gopool.New(keep)}
	go p.loop()
	return p, nil
}

func (p *Poller) loop() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd == int32(p.wake) {
				if p.stop.Load() {
					return
				}
				continue
			}
			p.mu.Lock()
			r := p.regs[ev.Fd]
			p.mu.Unlock()
			if r != nil && r.gen == ev.Pad {
				p.readers.Go(r.ready)
			}
		}
	}
}

// Add registers conn's socket, unarmed (ErrNotPollable when conn has no
// file descriptor); ready will run on a goroutine of the poller's pool
// (never waiting for another ready) once per Arm, when the socket is
// readable (or closed).
func (p *Poller) Add(conn net.Conn, ready func()) (*Registration, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, ErrNotPollable
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil || fd < 0 {
		return nil, ErrNotPollable
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	r := &Registration{p: p, fd: int32(fd), gen: p.gen, ready: ready}
	p.regs[r.fd] = r
	return r, nil
}

// Arm asks for one call of ready once the socket is readable, at once if
// it already is. Arming a removed registration does nothing.
func (r *Registration) Arm() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.removed {
		return nil
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: r.fd, Pad: r.gen}
	op := unix.EPOLL_CTL_MOD
	if !r.added {
		op = unix.EPOLL_CTL_ADD
	}
	if err := unix.EpollCtl(r.p.epfd, op, int(r.fd), &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	r.added = true
	return nil
}

// Remove forgets the registration for good. It must run before the
// socket is closed: afterwards its descriptor may belong to another
// connection.
func (r *Registration) Remove() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.removed {
		return
	}
	r.removed = true
	if r.added {
		_ = unix.EpollCtl(r.p.epfd, unix.EPOLL_CTL_DEL, int(r.fd), nil)
	}
	r.p.mu.Lock()
	if r.p.regs[r.fd] == r {
		delete(r.p.regs, r.fd)
	}
	r.p.mu.Unlock()
}

// Close stops the loop and releases the epoll instance.
func (p *Poller) Close() {
	p.stop.Store(true)
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	_, _ = unix.Write(p.wake, one)
	<-p.done
	_ = unix.Close(p.epfd)
	_ = unix.Close(p.wake)
}
