package contract_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/transport/httpapi/openapitest"
	"github.com/outrider/outrider/wire"
)

// ledger holds what every socket of the test sent and received: each
// client frame and each server message is validated against the
// AsyncAPI document's message as it passes, and counted by message name
// (and error frames by code), so the test can require that every message
// and every code of the document was seen for real.
type ledger struct {
	frames *openapitest.Frames

	mu       sync.Mutex
	seen     map[string]int // message names
	codes    map[string]int // error frame codes
	problems []string       // frames that did not conform
}

func newLedger(t *testing.T) *ledger {
	t.Helper()
	f, err := openapitest.NewFrames()
	require.NoError(t, err)
	return &ledger{frames: f, seen: map[string]int{}, codes: map[string]int{}}
}

func (l *ledger) note(names []string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.problems = append(l.problems, err.Error())
		return
	}
	for _, n := range names {
		l.seen[n]++
	}
}

func (l *ledger) noteCode(code string) {
	l.mu.Lock()
	l.codes[code]++
	l.mu.Unlock()
}

// check fails the test if any frame did not conform.
func (l *ledger) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.problems); n > 0 {
		require.FailNow(t, "frames that do not conform to the AsyncAPI document",
			"%d, the first: %s", n, strings.Join(l.problems[:min(n, 3)], "\n"))
	}
}

// frame is one server frame as the test reads it.
type frame struct {
	wire.Frame
	Raw []byte
}

// sock is one WebSocket session whose messages a goroutine reads,
// validates and records; batches are split into their frames.
type sock struct {
	t    *testing.T
	name string
	l    *ledger
	conn *websocket.Conn

	in      chan frame
	pending []frame // read but not yet asked for
	batches int     // batch messages seen (read by the reader only before in closes)
	mu      sync.Mutex
}

// dial opens a session as token; query is the upgrade's query ("" or
// "batch=1").
func (l *ledger) dial(t *testing.T, name, addr, token, query string) *sock {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + token}}
	url := "ws://" + addr + "/v1/ws"
	if query != "" {
		url += "?" + query
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.Dial(url, h)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	require.NoError(t, err, "%s: dial", name)
	s := &sock{t: t, name: name, l: l, conn: conn, in: make(chan frame, 4096)}
	go s.read()
	t.Cleanup(func() { _ = conn.Close() })
	return s
}

func (s *sock) read() {
	defer close(s.in)
	for {
		_, msg, err := s.conn.ReadMessage()
		if err != nil {
			return
		}
		names, err := s.l.frames.Server(msg)
		s.l.note(names, err)
		var raws []json.RawMessage
		if bytes.HasPrefix(msg, []byte("[")) {
			s.mu.Lock()
			s.batches++
			s.mu.Unlock()
			if json.Unmarshal(msg, &raws) != nil {
				continue // recorded as a problem above
			}
		} else {
			raws = []json.RawMessage{msg}
		}
		for _, r := range raws {
			var f frame
			if json.Unmarshal(r, &f.Frame) != nil {
				continue
			}
			f.Raw = r
			if f.Type == "error" {
				s.l.noteCode(f.Code)
			}
			s.in <- f
		}
	}
}

func (s *sock) batchCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batches
}

// send writes v, which must be a client frame the document describes.
func (s *sock) send(v any) {
	s.t.Helper()
	b, err := json.Marshal(v)
	require.NoError(s.t, err)
	name, err := s.l.frames.Client(b)
	require.NoError(s.t, err, "%s: the test sends a frame the document does not describe", s.name)
	s.l.note([]string{name}, nil)
	require.NoError(s.t, s.conn.WriteMessage(websocket.TextMessage, b), s.name)
}

// sendBad writes a frame the document does not allow (the validator must
// refuse it too), to provoke an error frame.
func (s *sock) sendBad(raw string) {
	s.t.Helper()
	_, err := s.l.frames.Client([]byte(raw))
	require.Error(s.t, err, "%s: the document allows %s", s.name, raw)
	require.NoError(s.t, s.conn.WriteMessage(websocket.TextMessage, []byte(raw)), s.name)
}

var askN atomic.Int64

func nextID() string { return "c" + strconv.FormatInt(askN.Add(1), 10) }

// ask sends m with a fresh id and returns the ack or error answering it.
func (s *sock) ask(m map[string]any) frame {
	s.t.Helper()
	id := nextID()
	m["id"] = id
	s.send(m)
	return s.await("the answer to "+m["type"].(string)+" "+id, func(f frame) bool {
		return (f.Type == "ack" || f.Type == "error") && f.ID == id
	})
}

// await returns the first frame, read before or now, that pred matches;
// the others stay pending for later awaits.
func (s *sock) await(what string, pred func(frame) bool) frame {
	s.t.Helper()
	return s.awaitFor(e2e.EventWait, what, pred)
}

func (s *sock) awaitFor(d time.Duration, what string, pred func(frame) bool) frame {
	s.t.Helper()
	for i, f := range s.pending {
		if pred(f) {
			s.pending = append(s.pending[:i:i], s.pending[i+1:]...)
			return f
		}
	}
	timeout := time.After(d)
	for {
		select {
		case f, ok := <-s.in:
			require.True(s.t, ok, "%s: closed while waiting for %s", s.name, what)
			if pred(f) {
				return f
			}
			s.pending = append(s.pending, f)
		case <-timeout:
			require.FailNow(s.t, s.name+": no "+what, "in %s; pending: %d frames", d, len(s.pending))
		}
	}
}

// event waits for the event frame of channel with that event name.
func (s *sock) event(channel, event string) frame {
	s.t.Helper()
	return s.await(event+" on "+channel, func(f frame) bool {
		return f.Type == "event" && f.Channel == channel && f.Event == event
	})
}

// errorFrame waits for an error frame with code and no id.
func (s *sock) errorFrame(code string) frame {
	s.t.Helper()
	return s.await("an error frame "+code, func(f frame) bool { return f.Type == "error" && f.Code == code && f.ID == "" })
}
