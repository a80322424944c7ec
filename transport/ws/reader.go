package ws

import (
	"bufio"
	"errors"
	"net"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/outrider/outrider/problem"
	"github.com/outrider/outrider/transport/ws/internal/wsconn"
)

// Reading. A session's client frames are read either on a goroutine of
// its own for the session's whole life (readBlocking: systems without
// epoll, or Config.BlockingReads), or — the default on Linux — only when
// the gateway's poller finds the socket readable (onReadable). Then the
// reader borrows a read buffer from the gateway's pool, reads and handles
// what has arrived, lingers for Config.ReadLinger in case more follows (a
// driver streaming positions keeps its reader), and hands the socket back
// to the poller. An idle session therefore holds no goroutine and no read
// buffer, only its state.
//
// Concurrency: readMu is held while frames are read and handled, so the
// reader state (fr, subs, limiters, strikes) has one owner at a time even
// though successive reads may run on different goroutines; readDone, also
// under readMu, is set once the reading has ended for good.

// startReading begins reading the session's frames.
func (s *session) startReading() {
	s.lastRead.Store(time.Now().UnixNano())
	if p := s.g.poller; p != nil {
		reg, err := p.Add(s.raw, s.onReadable)
		if err == nil {
			s.reg.Store(reg)
			if err = reg.Arm(); err == nil {
				return
			}
			reg.Remove()
			s.reg.Store(nil)
		}
		s.g.pollWarn.Do(func() {
			s.g.log.Warn("a websocket session reads on a goroutine of its own (logged once)", "err", err)
		})
	}
	go s.readBlocking()
}

// readBlocking reads until the session ends.
func (s *session) readBlocking() {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	br := bufio.NewReaderSize(s.raw, s.g.cfg.ReadBufferSize)
	for !s.readDone {
		_ = s.raw.SetReadDeadline(time.Now().Add(s.g.cfg.PongWait))
		_, ok := s.readFrame(br)
		s.readDone = !ok
	}
}

// onReadable reads what the poller found waiting, then waits for more
// for up to ReadLinger, then arms the poller again.
func (s *session) onReadable() {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	if s.readDone {
		return
	}
	br := s.g.readers.Get().(*bufio.Reader)
	br.Reset(s.raw)
	defer func() {
		br.Reset(nil)
		s.g.readers.Put(br)
	}()
	for {
		_ = s.raw.SetReadDeadline(time.Now().Add(s.g.cfg.PongWait))
		op, ok := s.readFrame(br)
		if !ok {
			s.readDone = true
			return
		}
		if br.Buffered() > 0 {
			continue
		}
		if op == wsconn.OpPong || op == wsconn.OpPing {
			break // keep-alives come one at a time: nothing follows
		}
		// Peek does not consume: a timeout here, before the next frame's
		// first byte, loses nothing.
		_ = s.raw.SetReadDeadline(time.Now().Add(s.g.cfg.ReadLinger))
		if _, err := br.Peek(1); err != nil {
			if isTimeout(err) {
				break
			}
			s.readFailed(err)
			s.readDone = true
			return
		}
	}
	if err := s.reg.Load().Arm(); err != nil {
		s.readDone = true
		s.close(CloseInternalError, "node failed; reconnect and resume")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readFrame reads and handles one client frame and returns its opcode;
// ok is false once the session is ending.
func (s *session) readFrame(br *bufio.Reader) (op byte, ok bool) {
	op, payload, err := s.fr.Next(br)
	if err != nil {
		s.readFailed(err)
		return op, false
	}
	s.lastRead.Store(time.Now().UnixNano())
	switch op {
	case wsconn.OpContinuation: // a fragment; the message is not complete yet
		return op, true
	case wsconn.OpPing:
		// Pings count against the inbound rate like messages: each costs
		// a write.
		if !s.allow() {
			return op, s.strike(false)
		}
		_ = s.conn.WriteControl(websocket.PongMessage, payload, time.Now().Add(s.g.cfg.WriteTimeout))
		return op, true
	case wsconn.OpPong:
		return op, true
	case wsconn.OpClose:
		code, valid := wsconn.CloseCode(payload)
		switch {
		case !valid:
			s.close(CloseProtocolError, "malformed close frame")
		case code == wsconn.StatusNoStatus:
			s.close(CloseNormal, "")
		default:
			s.close(code, "") // echo the client's code (RFC 6455 §5.5.1)
		}
		return op, false
	}
	return op, s.message(op == wsconn.OpText, payload)
}

// readFailed closes the session after a read error: with the frame's
// close code for a broken frame, normally for an ended or silent socket.
func (s *session) readFailed(err error) {
	var fe *wsconn.FrameError
	if errors.As(err, &fe) {
		s.close(fe.Code, fe.Reason)
		return
	}
	s.close(CloseNormal, "")
}

// message handles one client message; false once the session is ending.
func (s *session) message(text bool, data []byte) bool {
	s.g.metrics.frames.WithLabelValues("in").Inc()
	if !s.allow() {
		return s.strike(true)
	}
	if !text {
		s.sendError("", problem.UnsupportedFrame, "send JSON text frames")
		return true
	}
	s.handle(data)
	return true
}

// allow takes one frame from the session's inbound rate; a frame within
// it clears the strikes.
func (s *session) allow() bool {
	if s.limiter == nil {
		s.limiter = rate.NewLimiter(rate.Limit(s.g.cfg.InboundRate), s.g.cfg.InboundBurst)
	}
	if !s.limiter.Allow() {
		return false
	}
	s.strikes = 0
	return true
}

// strike counts a frame over the rate, answering it with an error frame
// when tell is set; false once MaxRateStrikes in a row close the session.
func (s *session) strike(tell bool) bool {
	s.strikes++
	if s.strikes >= s.g.cfg.MaxRateStrikes {
		s.close(ClosePolicyViolation, "too many frames")
		return false
	}
	if tell {
		s.sendError("", problem.RateLimited, "too many frames; slow down")
	}
	return true
}
