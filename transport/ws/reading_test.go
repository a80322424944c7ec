package ws_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/transport/ws"
)

// maskedFrame is a client frame written by hand, for what gorilla's
// client will not send (fragments around a ping, protocol errors).
func maskedFrame(b0 byte, payload string, masked bool) []byte {
	var b bytes.Buffer
	b.WriteByte(b0)
	n := len(payload)
	m := byte(0)
	if masked {
		m = 0x80
	}
	if n > 125 {
		b.WriteByte(m | 126)
		_ = binary.Write(&b, binary.BigEndian, uint16(n))
	} else {
		b.WriteByte(m | byte(n))
	}
	p := []byte(payload)
	if masked {
		key := []byte{9, 8, 7, 6}
		b.Write(key)
		for i := range p {
			p[i] ^= key[i%4]
		}
	}
	b.Write(p)
	return b.Bytes()
}

// closeOf reads (draining what the node buffered) until the server
// closes, and returns its close frame.
func closeOf(t *testing.T, c *client) *websocket.CloseError {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		_, _, err := c.conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		require.ErrorAs(t, err, &ce)
		return ce
	}
}

// readModes are the two ways a node reads its sockets: through the
// poller (Linux's default) and a goroutine per session.
var readModes = []struct {
	name     string
	blocking bool
}{{"poller", false}, {"goroutine per session", true}}

func TestFramesInBothReadModes(t *testing.T) {
	for _, mode := range readModes {
		t.Run(mode.name, func(t *testing.T) {
			n := e2e.Start(t, func(cfg *app.Config) {
				cfg.WS.BlockingReads = mode.blocking
				cfg.WS.MaxMessageBytes = 512
			})
			a := newAPI(t, n)
			cust := a.customer()

			c := dial(t, n, cust.token)
			raw := c.conn.NetConn()
			// A message in two fragments with a ping between them: the
			// ping is answered, then the message.
			var pongs []string
			c.conn.SetPongHandler(func(data string) error { pongs = append(pongs, data); return nil })
			_, err := raw.Write(append(append(
				maskedFrame(0x01, `{"type":"pi`, true),       // text, not final
				maskedFrame(0x89, "are you there", true)...), // ping
				maskedFrame(0x80, `ng","id":"frag"}`, true)...)) // final continuation
			require.NoError(t, err)
			require.Equal(t, "pong", c.next(5*time.Second).Type)
			require.Equal(t, []string{"are you there"}, pongs)
			// Not JSON: an error frame, and the connection stays.
			require.NoError(t, c.conn.WriteMessage(websocket.TextMessage, []byte("hello")))
			require.Equal(t, "malformed_json", c.next(5*time.Second).Code)
			c.send(map[string]any{"type": "ping"})
			require.Equal(t, "pong", c.next(5*time.Second).Type)

			for _, tc := range []struct {
				name  string
				frame []byte
				code  int
			}{
				{"unmasked", maskedFrame(0x81, `{"type":"ping"}`, false), ws.CloseProtocolError},
				{"reserved bit", maskedFrame(0x81|0x40, `{"type":"ping"}`, true), ws.CloseProtocolError},
				{"unknown opcode", maskedFrame(0x83, "", true), ws.CloseProtocolError},
				{"oversized", maskedFrame(0x81, strings.Repeat("x", 600), true), ws.CloseMessageTooBig},
			} {
				t.Run(tc.name, func(t *testing.T) {
					c := dial(t, n, cust.token)
					_, err := c.conn.NetConn().Write(tc.frame)
					require.NoError(t, err)
					require.Equal(t, tc.code, closeOf(t, c).Code)
				})
			}
		})
	}
}

func TestClientCloseIsEchoed(t *testing.T) {
	n := e2e.Start(t, nil)
	c := dial(t, n, newAPI(t, n).customer().token)
	require.NoError(t, c.conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"), time.Now().Add(time.Second)))
	require.Equal(t, websocket.CloseGoingAway, closeOf(t, c).Code)
}

// A client that answers no ping is closed once PongWait has passed.
func TestSilentClientIsClosed(t *testing.T) {
	n := e2e.Start(t, func(cfg *app.Config) {
		cfg.WS.PingInterval = 100 * time.Millisecond
		cfg.WS.PongWait = 400 * time.Millisecond
	})
	c := dial(t, n, newAPI(t, n).customer().token)
	c.conn.SetPingHandler(func(string) error { return nil }) // answers no ping
	ce := closeOf(t, c)
	require.Equal(t, ws.CloseNormal, ce.Code)
	require.Equal(t, "no pong", ce.Text)
	require.Eventually(t, func() bool { return wsSessions(t, n) == 0 }, 10*time.Second, 50*time.Millisecond,
		"the node forgets the session")
}

var sessionsGauge = regexp.MustCompile(`(?m)^outrider_ws_sessions (\S+)$`)

func wsSessions(t *testing.T, n *app.Node) float64 {
	t.Helper()
	resp, err := http.Get("http://" + n.Addr() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	m := sessionsGauge.FindSubmatch(body)
	require.NotNil(t, m, "no outrider_ws_sessions in /metrics")
	v, err := strconv.ParseFloat(string(m[1]), 64)
	require.NoError(t, err)
	return v
}

// Client frames over the inbound rate get rate_limited errors, and a
// client that keeps going is closed 1008; WebSocket pings count too (each
// costs the node a write) and are not answered over the rate.
func TestInboundRateLimit(t *testing.T) {
	n := e2e.Start(t, func(cfg *app.Config) {
		cfg.WS.InboundRate = 0.01 // effectively none after the burst
		cfg.WS.InboundBurst = 2
		cfg.WS.MaxRateStrikes = 4
	})
	cust := newAPI(t, n).customer()

	t.Run("messages", func(t *testing.T) {
		c := dial(t, n, cust.token)
		// One frame at a time (a close drops what is still queued): 2
		// pongs, then 3 errors; the 4th strike closes.
		var got []string
		for i := 0; i < 5; i++ {
			c.send(map[string]any{"type": "ping"})
			f := c.next(5 * time.Second)
			got = append(got, f.Type+"/"+f.Code)
		}
		require.Equal(t, []string{"pong/", "pong/", "error/rate_limited", "error/rate_limited", "error/rate_limited"}, got)
		c.send(map[string]any{"type": "ping"})
		require.Equal(t, ws.ClosePolicyViolation, closeOf(t, c).Code)
	})
	t.Run("pings", func(t *testing.T) {
		c := dial(t, n, cust.token)
		pongs := 0
		c.conn.SetPongHandler(func(string) error { pongs++; return nil })
		for i := 0; i < 6; i++ {
			require.NoError(t, c.conn.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(time.Second)))
		}
		require.Equal(t, ws.ClosePolicyViolation, closeOf(t, c).Code)
		require.Equal(t, 2, pongs, "pings over the rate are not answered")
	})
}
