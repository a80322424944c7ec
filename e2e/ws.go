package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/wire"
)

// EventWait is how long WS waits for a frame the test expects.
const EventWait = 15 * time.Second

// Frame is any server frame of the realtime protocol (DESIGN.md §4).
type Frame struct {
	wire.Frame
	// Raw is the frame as it came.
	Raw []byte `json:"-"`
}

// OrderEvent decodes an order event frame's data.
func (f Frame) OrderEvent(t TB) wire.OrderEvent {
	t.Helper()
	var ev wire.OrderEvent
	require.NoError(t, json.Unmarshal(f.Data, &ev), "data of %s seq %d: %s", f.Channel, f.Seq, f.Data)
	return ev
}

// WS is a WebSocket client whose frames a goroutine reads into a channel,
// so several clients can be waited on with deadlines and the close
// frame's code observed. Frames that Skip matches are dropped as they
// arrive (by default the notifications the worker pushes on user:
// channels, which most tests are not about).
type WS struct {
	t       TB
	Name    string
	Conn    *websocket.Conn
	frames  chan Frame
	err     error   // why reading stopped; set before frames is closed
	pending []Frame // frames read ahead by Subscribe
	// Other counts event frames of channels a call was not waiting for.
	Other int
}

// SkipUserChannels is the default filter of Dial: the events of user:
// channels (notifications, jobs) are dropped; the acks and errors that
// answer a subscribe to one are not.
func SkipUserChannels(f Frame) bool {
	return f.Type == "event" && strings.HasPrefix(f.Channel, "user:")
}

var wsSeq atomic.Int64

// Dial opens a WebSocket to the node at addr ("host:port") as token and
// closes it when t ends. skip drops frames as they arrive; nil means
// SkipUserChannels. name labels failures.
func Dial(t interface {
	TB
	cleaner
}, name, addr, token string, skip func(Frame) bool) *WS {
	t.Helper()
	conn, err := DialRaw(addr, token)
	require.NoError(t, err, "%s: dial %s", name, addr)
	return Attach(t, name, conn, skip)
}

// DialRaw opens a WebSocket to addr as token (none when empty), with no
// reader: for tests of the handshake and of raw frames.
func DialRaw(addr, token string) (*websocket.Conn, error) {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.Dial("ws://"+addr+"/v1/ws", h)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	return conn, err
}

// Next returns the next frame; ok is false once the connection is closed
// (Err says why). It fails the test after timeout.
func (c *WS) Next(timeout time.Duration) (f Frame, ok bool) {
	c.t.Helper()
	if len(c.pending) > 0 {
		f, c.pending = c.pending[0], c.pending[1:]
		return f, true
	}
	select { // what is already there first: a select with two ready cases picks at random
	case f, ok = <-c.frames:
		return f, ok
	default:
	}
	select {
	case f, ok = <-c.frames:
		return f, ok
	case <-time.After(max(timeout, 0)):
		require.FailNow(c.t, c.Name+": no frame in time", "waited %s", timeout)
		return f, false
	}
}

// Must is Next that fails when the connection closed.
func (c *WS) Must(timeout time.Duration) Frame {
	c.t.Helper()
	f, ok := c.Next(timeout)
	if !ok { // err is only safe to read once frames is closed
		require.FailNow(c.t, fmt.Sprintf("%s: closed: %v", c.Name, c.err))
	}
	return f
}

// Err is why the connection stopped; only valid after Next returned
// ok == false.
func (c *WS) Err() error { return c.err }

// Send writes one frame as JSON.
func (c *WS) Send(v any) {
	c.t.Helper()
	require.NoError(c.t, c.Conn.WriteJSON(v), c.Name)
}

// Subscribe subscribes to channel (from since, if not nil) and waits for
// the ack; events arriving before it are kept for the next reads.
func (c *WS) Subscribe(channel string, since *int64) {
	c.t.Helper()
	f := c.Ask(subscribeFrame(channel, since))
	require.Equal(c.t, "ack", f.Type, "%s: subscribe %s refused: %s", c.Name, channel, f.Raw)
}

func subscribeFrame(channel string, since *int64) map[string]any {
	m := map[string]any{"type": "subscribe", "channel": channel}
	if since != nil {
		m["since"] = *since
	}
	return m
}

// Ask sends frame m with a fresh id and returns the ack or error frame
// that answers it; events arriving first are kept for the next reads.
func (c *WS) Ask(m map[string]any) Frame {
	c.t.Helper()
	id := "q-" + strconv.FormatInt(wsSeq.Add(1), 10)
	m["id"] = id
	c.Send(m)
	var early []Frame
	deadline := time.Now().Add(EventWait)
	for {
		f := c.Must(time.Until(deadline))
		switch {
		case (f.Type == "ack" || f.Type == "error") && f.ID == id:
			c.pending = append(early, c.pending...)
			return f
		case f.Type == "event" || f.Type == "ack" || f.Type == "pong" || f.Type == "location":
			early = append(early, f)
		default:
			require.FailNow(c.t, c.Name+": unexpected frame", "waiting for the answer to %v: %s", m, f.Raw)
		}
	}
}

// Events reads until n event frames of channel arrived and returns them;
// acks, pongs and events of other channels are passed over, any other
// frame fails the test.
func (c *WS) Events(channel string, n int) []Frame {
	c.t.Helper()
	var out []Frame
	deadline := time.Now().Add(EventWait)
	for len(out) < n {
		f := c.Must(time.Until(deadline))
		switch {
		case f.Type == "event" && f.Channel == channel:
			out = append(out, f)
		case f.Type == "event":
			c.Other++
		case f.Type == "ack" || f.Type == "pong":
		default:
			require.FailNow(c.t, c.Name+": unexpected frame", "waiting for %d events of %s: %s", n-len(out), channel, f.Raw)
		}
	}
	return out
}

// Expect reads the events of channel with seqs from, from+1, …: one per
// entry of events (event names such as "order.assigned"), in order, none
// missing or repeated, each carrying the order at its seq. It returns
// the orders.
func (c *WS) Expect(channel string, from int64, events ...string) []wire.Order {
	c.t.Helper()
	orderID := strings.TrimPrefix(channel, "order:")
	fs := c.Events(channel, len(events))
	out := make([]wire.Order, len(fs))
	for i, f := range fs {
		want := from + int64(i)
		require.Equal(c.t, want, f.Seq, "%s: %s out of order, with a gap or a duplicate (%s)", c.Name, channel, f.Event)
		require.Equal(c.t, events[i], f.Event, "%s: %s seq %d", c.Name, channel, want)
		ev := f.OrderEvent(c.t)
		require.Equal(c.t, orderID, ev.Order.ID, "%s: seq %d data: %s", c.Name, want, f.Data)
		require.Equal(c.t, want, ev.Order.Version, "%s: seq %d data: %s", c.Name, want, f.Data)
		_, err := time.Parse(time.RFC3339, f.At)
		require.NoError(c.t, err, "%s: seq %d at", c.Name, want)
		out[i] = ev.Order
	}
	return out
}

// Quiet sends a ping and requires the pong with no event of channel
// before it: nothing (e.g. a duplicate) is queued behind what was seen.
func (c *WS) Quiet(channel string) {
	c.t.Helper()
	c.Send(map[string]any{"type": "ping"})
	deadline := time.Now().Add(EventWait)
	for {
		f := c.Must(time.Until(deadline))
		switch {
		case f.Type == "pong":
			return
		case f.Type == "event" && f.Channel == channel:
			require.FailNow(c.t, c.Name+": unexpected event", "%s seq %d %s", channel, f.Seq, f.Event)
		case f.Type == "event":
			c.Other++
		case f.Type == "ack":
		default:
			require.FailNow(c.t, c.Name+": unexpected frame", "%s", f.Raw)
		}
	}
}

// CloseCode waits for the server to close the connection and returns the
// close code. No event of an order channel may arrive first.
func (c *WS) CloseCode(timeout time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f, ok := c.Next(time.Until(deadline))
		if !ok {
			var ce *websocket.CloseError
			require.True(c.t, errors.As(c.err, &ce), "%s: connection ended without a close frame: %v", c.Name, c.err)
			return ce.Code
		}
		if f.Type == "event" && strings.HasPrefix(f.Channel, "order:") {
			require.FailNow(c.t, c.Name+": unexpected event before the close", "%s seq %d %s", f.Channel, f.Seq, f.Event)
		}
	}
}

// Dropped requires the connection to end (the process under it was
// killed) within timeout with no frame but skipped ones, and not by the
// timeout itself.
func (c *WS) Dropped(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f, ok := c.Next(time.Until(deadline))
		if !ok {
			var ne net.Error
			require.False(c.t, errors.As(c.err, &ne) && ne.Timeout(), "%s: the connection outlived the process: %v", c.Name, c.err)
			return
		}
		require.FailNow(c.t, c.Name+": unexpected frame after the kill", "%s", f.Raw)
	}
}
