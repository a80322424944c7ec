package ws

import (
	"errors"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/outrider/outrider/problem"
	"github.com/outrider/outrider/transport/ws/internal/wsconn"
)

// Reading. The engine's wsconn.Reader reads a session's client frames —
// through the gateway's poller when it can, on a goroutine of its own
// otherwise — and hands each one to the session, which is its
// wsconn.Handler (Frame, ReadFailed, ArmFailed below).
//
// Concurrency: the Reader calls these one at a time under its own lock
// and never after session.endReading's Stop, so the reading state (subs,
// limiters, strikes, fixes) is theirs alone: nothing else touches it
// except endReading, after Stop.

// startReading begins reading the session's frames.
func (s *session) startReading() {
	s.lastRead.Store(time.Now().UnixNano())
	if err := s.rd.Start(s.g.poller); err != nil {
		s.g.pollWarn.Do(func() {
			s.g.log.Warn("a websocket session reads on a goroutine of its own (logged once)", "err", err)
		})
	}
}

// ArmFailed closes the session when the poller cannot watch its socket
// again.
func (s *session) ArmFailed(error) {
	s.close(CloseInternalError, "node failed; reconnect and resume")
}

// Frame handles one client frame; false once the session is ending.
func (s *session) Frame(op byte, payload []byte) bool {
	s.lastRead.Store(time.Now().UnixNano())
	switch op {
	case wsconn.OpContinuation: // a fragment; the message is not complete yet
		return true
	case wsconn.OpPing:
		// Pings count against the inbound rate like messages: each costs
		// a write.
		if !s.allow() {
			return s.strike(false)
		}
		_ = s.conn.WriteControl(websocket.PongMessage, payload, time.Now().Add(s.g.cfg.WriteTimeout))
		return true
	case wsconn.OpPong:
		return true
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
		return false
	}
	return s.message(op == wsconn.OpText, payload)
}

// ReadFailed closes the session after a read error: with the frame's
// close code for a broken frame, normally for an ended or silent socket.
func (s *session) ReadFailed(err error) {
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
		s.close(CloseUnsupportedData, "send JSON text messages")
		return false
	}
	if !utf8.Valid(data) {
		s.close(CloseInvalidPayload, "a text message must be valid UTF-8")
		return false
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
