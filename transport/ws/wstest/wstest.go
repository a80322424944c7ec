// Package wstest holds I4 (DESIGN.md §2, §4) to account in tests: a
// Watcher is one WebSocket client that subscribes, unsubscribes and
// reconnects to order channels and records every subscription's events
// as a Stream; Check holds each Stream against the order's journal.
//
// A Stream is exactly what the server sent for one subscription: the
// gateway queues a subscription's events only after its ack, and none
// after the ack of its unsubscribe (both are queued under the
// subscription's lock, in one session queue). So a frame of an order
// channel with no open Stream is itself a broken promise, and Check can
// demand of every Stream: seqs since+1, since+2, … each once and in
// order, each the journal's event of that seq, and for a Stream still
// open at the end, every event up to the order's last.
package wstest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/outrider/outrider/wire"
)

// AckWait bounds the wait for the answer to one subscribe or unsubscribe.
const AckWait = 10 * time.Second

// Stream is what one subscription received, in arrival order.
type Stream struct {
	Channel string
	OrderID string
	// Since is the subscribe frame's since; nil subscribes from now on.
	Since *int64
	// Floor, for Since nil, is a seq the order had certainly reached when
	// the subscribe was sent: the first event must come after it.
	Floor  int64
	Events []Event
	// Ended says the subscription is over (unsubscribed, or its
	// connection closed), and why.
	Ended  bool
	Reason string
}

// Last is the seq of the last event received, or what the Stream started
// after (since, or Floor) when it received none.
func (s *Stream) Last() int64 {
	if n := len(s.Events); n > 0 {
		return s.Events[n-1].Seq
	}
	if s.Since != nil {
		return *s.Since
	}
	return s.Floor
}

// Event is one event frame of an order channel.
type Event struct {
	Seq   int64
	Event string
	Data  json.RawMessage
	At    string
}

// Watcher is one user's WebSocket client. Its methods are safe for one
// controlling goroutine, which has one subscribe or unsubscribe out at a
// time; its reader runs on a goroutine of its own.
type Watcher struct {
	token string
	ids   atomic.Int64

	mu       sync.Mutex
	conn     *websocket.Conn
	done     chan struct{} // closed when conn's reader ends
	closeErr error         // why conn's reader ended
	open     map[string]*Stream
	pending  map[string]*call
	streams  []*Stream
	problems []string
}

type call struct {
	stream *Stream // a subscribe's, opened on its ack
	unsub  string  // an unsubscribe's channel, whose stream ends on its ack
	answer chan error
}

// NewWatcher makes a watcher for the access token; it connects on Dial.
func NewWatcher(token string) *Watcher {
	return &Watcher{token: token, open: map[string]*Stream{}, pending: map[string]*call{}}
}

// Dial connects to a node (host:port), ending the streams of the previous
// connection, if any. Resubscribing is the caller's.
func (w *Watcher) Dial(addr string) error {
	w.Close()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+w.token)
	d := websocket.Dialer{HandshakeTimeout: AckWait}
	conn, resp, err := d.Dial("ws://"+addr+"/v1/ws", h)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	done := make(chan struct{})
	w.mu.Lock()
	w.conn, w.done, w.closeErr = conn, done, nil
	w.mu.Unlock()
	go w.read(conn, done)
	return nil
}

// Close closes the connection and waits for its reader; its open streams
// end.
func (w *Watcher) Close() {
	w.mu.Lock()
	conn, done := w.conn, w.done
	w.mu.Unlock()
	if conn == nil {
		return
	}
	_ = conn.Close()
	<-done
}

// Connected reports whether the connection is up (the server has not
// closed it).
func (w *Watcher) Connected() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done == nil {
		return false
	}
	select {
	case <-w.done:
		return false
	default:
		return true
	}
}

// CloseCode is the close code the server ended the last connection with
// (0 while it is up or when it ended without a close frame).
func (w *Watcher) CloseCode() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var ce *websocket.CloseError
	if errors.As(w.closeErr, &ce) {
		return ce.Code
	}
	return 0
}

// Subscribe subscribes to channel (order:ID) and waits for the ack; the
// stream is open from the ack on. floor matters for since nil (see
// Stream.Floor). An error frame in answer, a closed connection or no
// answer within AckWait is an error (the caller may redial and retry).
func (w *Watcher) Subscribe(channel string, since *int64, floor int64) error {
	orderID, _ := strings.CutPrefix(channel, "order:")
	st := &Stream{Channel: channel, OrderID: orderID, Floor: floor}
	if since != nil {
		v := *since
		st.Since = &v
	}
	w.mu.Lock()
	if w.open[channel] != nil {
		w.mu.Unlock()
		return fmt.Errorf("already subscribed to %s", channel)
	}
	w.mu.Unlock()
	f := map[string]any{"type": "subscribe", "channel": channel}
	if since != nil {
		f["since"] = *since
	}
	return w.ask(f, &call{stream: st})
}

// Unsubscribe ends the subscription to channel and waits for the ack.
func (w *Watcher) Unsubscribe(channel string) error {
	return w.ask(map[string]any{"type": "unsubscribe", "channel": channel}, &call{unsub: channel})
}

func (w *Watcher) ask(f map[string]any, c *call) error {
	id := "w" + strconv.FormatInt(w.ids.Add(1), 10)
	f["id"] = id
	c.answer = make(chan error, 1)
	w.mu.Lock()
	conn, done := w.conn, w.done
	if conn == nil {
		w.mu.Unlock()
		return errors.New("not connected")
	}
	w.pending[id] = c
	w.mu.Unlock()
	forget := func() {
		w.mu.Lock()
		delete(w.pending, id)
		w.mu.Unlock()
	}
	_ = conn.SetWriteDeadline(time.Now().Add(AckWait))
	if err := conn.WriteJSON(f); err != nil {
		forget()
		return fmt.Errorf("send %s: %w", f["type"], err)
	}
	t := time.NewTimer(AckWait)
	defer t.Stop()
	select {
	case err := <-c.answer:
		return err
	case <-done:
		forget()
		return errors.New("connection closed")
	case <-t.C:
		forget()
		return fmt.Errorf("no answer to %s %v within %s", f["type"], f["channel"], AckWait)
	}
}

// Last is the last seq received on channel over every stream (resume
// from it), or -1 when none arrived.
func (w *Watcher) Last(channel string) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	last := int64(-1)
	for _, s := range w.streams {
		if s.Channel == channel && len(s.Events) > 0 {
			last = max(last, s.Events[len(s.Events)-1].Seq)
		}
	}
	return last
}

// Subscribed reports whether a stream of channel is open.
func (w *Watcher) Subscribed(channel string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.open[channel] != nil
}

// Streams returns a snapshot of every stream so far.
func (w *Watcher) Streams() []*Stream {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]*Stream, len(w.streams))
	for i, s := range w.streams {
		c := *s
		c.Events = append([]Event(nil), s.Events...)
		out[i] = &c
	}
	return out
}

// Problems are frames that broke the protocol: events outside any
// subscription, unexpected error frames.
func (w *Watcher) Problems() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.problems...)
}

func (w *Watcher) read(conn *websocket.Conn, done chan struct{}) {
	var err error
	for {
		var data []byte
		if _, data, err = conn.ReadMessage(); err != nil {
			break
		}
		var f wire.Frame
		if json.Unmarshal(data, &f) != nil {
			w.problem("undecodable frame %s", data)
			continue
		}
		w.take(f, data)
	}
	w.mu.Lock()
	w.closeErr = err
	for ch, s := range w.open {
		s.Ended, s.Reason = true, "connection closed: "+err.Error()
		delete(w.open, ch)
	}
	for id, c := range w.pending {
		c.answer <- errors.New("connection closed")
		delete(w.pending, id)
	}
	close(done)
	w.mu.Unlock()
}

func (w *Watcher) take(f wire.Frame, raw []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch f.Type {
	case "ack", "error":
		c, ok := w.pending[f.ID]
		if f.ID == "" || !ok {
			if s := w.open[f.Channel]; s != nil && f.Type == "error" && f.Code == "forbidden" {
				// The order changed hands: the subscription is over.
				s.Ended, s.Reason = true, "forbidden: "+f.Message
				delete(w.open, f.Channel)
				return
			}
			if f.Type == "error" && f.Code == "rate_limited" {
				// The node dropped a frame without reading it, so its
				// answer carries no id: the frame asked about is the one
				// waiting (a watcher has one question out at a time).
				for id, c := range w.pending {
					c.answer <- fmt.Errorf("%s: %s", f.Code, f.Message)
					delete(w.pending, id)
				}
				return
			}
			if f.Type == "error" {
				w.problems = append(w.problems, "error frame "+string(raw))
			}
			return
		}
		delete(w.pending, f.ID)
		if f.Type == "error" {
			c.answer <- fmt.Errorf("%s: %s", f.Code, f.Message)
			return
		}
		if c.stream != nil {
			w.open[c.stream.Channel] = c.stream
			w.streams = append(w.streams, c.stream)
		} else if s := w.open[c.unsub]; s != nil {
			s.Ended, s.Reason = true, "unsubscribed"
			delete(w.open, c.unsub)
		}
		c.answer <- nil
	case "event":
		if !strings.HasPrefix(f.Channel, "order:") {
			return // user:{id} pushes (notifications) are not these tests' business
		}
		s := w.open[f.Channel]
		if s == nil {
			w.problems = append(w.problems, "event outside any subscription: "+string(raw))
			return
		}
		s.Events = append(s.Events, Event{Seq: f.Seq, Event: f.Event, Data: f.Data, At: f.At})
	}
}

func (w *Watcher) problem(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.problems = append(w.problems, fmt.Sprintf(format, args...))
}
