package ws_test

// Batched frames (issue #16): a client that asks with `?batch=1` gets
// the frames queued for it together as one JSON array per WebSocket
// message, bounded by MaxBatchFrames and MaxBatchBytes; every other
// client gets exactly the frames it got before, one per message.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/transport/ws"
)

// gate holds every session's writer before it takes its queue while
// closed is unset, so that the frames a client asks for queue up.
type gate struct {
	mu   sync.Mutex
	held chan struct{} // nil: writers pass
}

func (g *gate) hold() {
	g.mu.Lock()
	g.held = make(chan struct{})
	g.mu.Unlock()
}

func (g *gate) release() {
	g.mu.Lock()
	if g.held != nil {
		close(g.held)
		g.held = nil
	}
	g.mu.Unlock()
}

func (g *gate) wait() {
	g.mu.Lock()
	ch := g.held
	g.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

func dialBatch(t *testing.T, addr, token, query string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.Dial("ws://"+addr+"/v1/ws"+query, http.Header{"Authorization": {"Bearer " + token}})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

var framesIn = regexp.MustCompile(`(?m)^outrider_ws_frames_total\{direction="in"\} (\S+)$`)

// inFrames is the node's count of client frames read.
func inFrames(t *testing.T, a *e2e.API) float64 {
	t.Helper()
	m := framesIn.FindStringSubmatch(string(a.Anon().Get(t, "/metrics").RequireStatus(t, 200).Body))
	require.NotNil(t, m, "no outrider_ws_frames_total{direction=\"in\"} in /metrics")
	v, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	return v
}

// requests are k client frames whose answers differ in size and content:
// pings (answered {"type":"pong"}) and subscribes to channels no one may
// watch (answered by an error frame naming the channel and the id).
func requests(k int) [][]byte {
	out := make([][]byte, k)
	for i := range out {
		if i%3 == 0 {
			out[i] = []byte(`{"type":"ping"}`)
			continue
		}
		out[i] = fmt.Appendf(nil, `{"type":"subscribe","id":"s-%d","channel":"nope:%s"}`, i, strings.Repeat("x", i))
	}
	return out
}

// answers are the frames the node has always sent for requests(k), byte
// for byte: the protocol before batching.
func answers(k int) [][]byte {
	out := make([][]byte, k)
	for i := range out {
		if i%3 == 0 {
			out[i] = []byte(`{"type":"pong"}`)
			continue
		}
		out[i] = fmt.Appendf(nil, `{"type":"error","id":"s-%d","code":"forbidden","message":"you may not watch \"nope:%s\""}`, i, strings.Repeat("x", i))
	}
	return out
}

// readMessages reads n frames' worth of messages from conn: each message
// is either one frame (a JSON object) or a batch (a JSON array of
// frames). It returns the messages and the frames in arrival order.
func readMessages(t *testing.T, conn *websocket.Conn, n int) (msgs [][]byte, frames [][]byte) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	for len(frames) < n {
		typ, msg, err := conn.ReadMessage()
		require.NoError(t, err, "after %d of %d frames", len(frames), n)
		require.Equal(t, websocket.TextMessage, typ)
		msgs = append(msgs, msg)
		if msg[0] != '[' {
			frames = append(frames, msg)
			continue
		}
		var batch []json.RawMessage
		require.NoError(t, json.Unmarshal(msg, &batch), "a batch is a JSON array: %s", msg)
		require.GreaterOrEqual(t, len(batch), 2, "a batch holds several frames; one goes as itself: %s", msg)
		for _, f := range batch {
			require.Equal(t, byte('{'), f[0], "a batch holds frames, not batches: %s", msg)
			frames = append(frames, []byte(f))
		}
	}
	return msgs, frames
}

func TestBatchedFrames(t *testing.T) {
	const k = 60
	var g gate
	ws.SetHooks(t, ws.Hooks{Flushing: g.wait})
	for _, tc := range []struct {
		name                string
		maxFrames, maxBytes int
		// batches: whether the opted-in client must see some array.
		batches bool
	}{
		{"the count bounds a batch", 7, 1 << 20, true},
		{"the bytes bound a batch", 64, 300, true},
		{"a frame above the byte bound goes alone", 64, 120, true},
		{"one frame a batch is no batching", 1, 1 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, a := e2e.Up(t, func(c *app.Config) {
				c.WS.MaxBatchFrames, c.WS.MaxBatchBytes = tc.maxFrames, tc.maxBytes
				c.WS.InboundRate, c.WS.InboundBurst = 1e6, 1e6
			})
			user := a.Signup(t)
			plain := dialBatch(t, n.Addr(), user.Token, "")
			explicitOff := dialBatch(t, n.Addr(), user.Token, "?batch=0")
			batched := dialBatch(t, n.Addr(), user.Token, "?batch=1")
			conns := []*websocket.Conn{plain, explicitOff, batched}

			g.hold()
			before := inFrames(t, a)
			for _, c := range conns {
				for _, f := range requests(k) {
					require.NoError(t, c.WriteMessage(websocket.TextMessage, f))
				}
			}
			// Every request read (so all but at most the last answer of
			// each client queued behind the held writers): let them write.
			require.Eventually(t, func() bool { return inFrames(t, a)-before >= 3*k }, 10*time.Second, 5*time.Millisecond)
			g.release()

			want := answers(k)
			for _, c := range conns[:2] {
				msgs, frames := readMessages(t, c, k)
				require.Equal(t, want, msgs, "a client that did not opt in gets today's frames, one per message")
				require.Equal(t, want, frames)
			}
			msgs, frames := readMessages(t, batched, k)
			require.Equal(t, want, frames, "the batches' frames, in order, are what a plain client gets")
			arrays := 0
			for _, m := range msgs {
				if m[0] != '[' {
					continue
				}
				arrays++
				var batch []json.RawMessage
				require.NoError(t, json.Unmarshal(m, &batch))
				require.LessOrEqual(t, len(batch), tc.maxFrames, "frames in one batch")
				require.LessOrEqual(t, len(m), tc.maxBytes, "bytes of one batch")
			}
			if tc.batches {
				require.Positive(t, arrays, "frames queued together must come batched")
			} else {
				require.Zero(t, arrays, "MaxBatchFrames 1 sends no arrays")
			}
			if tc.maxBytes < 200 {
				long := 0
				for _, m := range msgs {
					if m[0] == '{' && len(m)+2 > tc.maxBytes {
						long++
					}
				}
				require.Positive(t, long, "frames above the byte bound still arrive, alone")
			}
		})
	}
}

// TestBatchParameterIsChecked: `batch` is 0 or 1; anything else is
// refused before the upgrade with validation_failed. (A raw request: the
// OpenAPI document of GET /v1/ws, which transport/httpapi owns, does not
// list the parameter and its 422 yet.)
func TestBatchParameterIsChecked(t *testing.T) {
	n, a := e2e.Up(t, nil)
	user := a.Signup(t)
	for _, tc := range []struct {
		query string
		code  int
	}{
		{"batch=yes", http.StatusUnprocessableEntity},
		{"batch=2", http.StatusUnprocessableEntity},
		{"batch=1", http.StatusSwitchingProtocols},
		{"batch=0", http.StatusSwitchingProtocols},
	} {
		req, err := http.NewRequest(http.MethodGet, "http://"+n.Addr()+"/v1/ws?"+tc.query, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+user.Token)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.Equal(t, tc.code, resp.StatusCode, tc.query)
		if tc.code == http.StatusSwitchingProtocols {
			_ = resp.Body.Close() // the socket: nothing to read
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		require.Contains(t, string(body), `"code":"validation_failed"`)
	}
}

// TestBatchingSlowConsumerIsCutOff: batching does not lift the send
// queue's bound: a client that asked for batches and does not read is
// still cut off with 4008.
func TestBatchingSlowConsumerIsCutOff(t *testing.T) {
	n, a := e2e.Up(t, func(c *app.Config) {
		c.WS.SendQueueSize = 64
		c.WS.InboundRate, c.WS.InboundBurst = 1e9, 1e9
	})
	conn := dialBatch(t, n.Addr(), a.Signup(t).Token, "?batch=1")
	raw := []byte(`{"type":"ping"}`)
	slow := regexp.MustCompile(`(?m)^outrider_ws_slow_consumers_total 1$`)
	sent := 0
	for ; sent < 2_000_000; sent++ {
		_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if err := conn.WriteMessage(websocket.TextMessage, raw); err != nil {
			break
		}
		if sent%10_000 == 0 && slow.Match(a.Anon().Get(t, "/metrics").RequireStatus(t, 200).Body) {
			break
		}
	}
	// Drain what was buffered: the socket must end with the 4008 close.
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		_, msg, err := conn.ReadMessage()
		if err == nil {
			require.True(t, bytes.HasPrefix(msg, []byte(`{"type":"pong"}`)) || bytes.HasPrefix(msg, []byte(`[{"type":"pong"}`)), "%s", msg)
			continue
		}
		var ce *websocket.CloseError
		require.ErrorAs(t, err, &ce, "after %d pings", sent)
		require.Equal(t, ws.CloseSlowConsumer, ce.Code)
		return
	}
}
