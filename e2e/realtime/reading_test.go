package realtime_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"sync"
	"sync/atomic"
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

// dialRaw opens a WebSocket as token with no reader yet, for a test to
// set its handlers before e2e.Attach starts one.
func dialRaw(t *testing.T, addr, token string) *websocket.Conn {
	t.Helper()
	conn, err := e2e.DialRaw(addr, token)
	require.NoError(t, err)
	return conn
}

// closeWait bounds the wait for the node's close frame behind what it
// buffered.
const closeWait = 20 * time.Second

// readModes are the two ways a node reads its sockets: through the
// poller (Linux's default) and a goroutine per session.
var readModes = []struct {
	name     string
	blocking bool
}{{"poller", false}, {"goroutine per session", true}}

func TestFramesInBothReadModes(t *testing.T) {
	for _, mode := range readModes {
		t.Run(mode.name, func(t *testing.T) {
			n, a := e2e.Up(t, func(cfg *app.Config) {
				cfg.WS.BlockingReads = mode.blocking
				cfg.WS.MaxMessageBytes = 512
			})
			cust := a.Signup(t)

			conn := dialRaw(t, n.Addr(), cust.Token)
			// A message in two fragments with a ping between them: the
			// ping is answered, then the message.
			var mu sync.Mutex
			var pongs []string
			conn.SetPongHandler(func(data string) error {
				mu.Lock()
				defer mu.Unlock()
				pongs = append(pongs, data)
				return nil
			})
			c := e2e.Attach(t, "customer", conn, nil)
			_, err := conn.NetConn().Write(append(append(
				maskedFrame(0x01, `{"type":"pi`, true),       // text, not final
				maskedFrame(0x89, "are you there", true)...), // ping
				maskedFrame(0x80, `ng","id":"frag"}`, true)...)) // final continuation
			require.NoError(t, err)
			require.Equal(t, "pong", c.Must(5*time.Second).Type)
			mu.Lock()
			require.Equal(t, []string{"are you there"}, pongs)
			mu.Unlock()
			// Not JSON: an error frame, and the connection stays.
			require.NoError(t, c.Conn.WriteMessage(websocket.TextMessage, []byte("hello")))
			require.Equal(t, "malformed_json", c.Must(5*time.Second).Code)
			c.Send(ping)
			require.Equal(t, "pong", c.Must(5*time.Second).Type)

			for _, tc := range []struct {
				name  string
				frame []byte
				code  int
			}{
				{"unmasked", maskedFrame(0x81, `{"type":"ping"}`, false), ws.CloseProtocolError},
				{"reserved bit", maskedFrame(0x81|0x40, `{"type":"ping"}`, true), ws.CloseProtocolError},
				{"unknown opcode", maskedFrame(0x83, "", true), ws.CloseProtocolError},
				{"oversized", maskedFrame(0x81, strings.Repeat("x", 600), true), ws.CloseMessageTooBig},
				// RFC 6455 §7.4.1: data the endpoint cannot accept, and
				// §8.1: a text message that is not UTF-8.
				{"binary", maskedFrame(0x82, `{"type":"ping"}`, true), ws.CloseUnsupportedData},
				{"invalid UTF-8", maskedFrame(0x81, "{\"type\":\"ping\",\"id\":\"\xff\"}", true), ws.CloseInvalidPayload},
				{"invalid UTF-8 across fragments", append(maskedFrame(0x01, "{\"type\":\"ping\",\"id\":\"\xc3", true),
					maskedFrame(0x80, "\x28\"}", true)...), ws.CloseInvalidPayload},
			} {
				t.Run(tc.name, func(t *testing.T) {
					c := e2e.Dial(t, tc.name, n.Addr(), cust.Token, nil)
					_, err := c.Conn.NetConn().Write(tc.frame)
					require.NoError(t, err)
					require.Equal(t, tc.code, c.CloseCode(closeWait))
				})
			}
		})
	}
}

func TestClientCloseIsEchoed(t *testing.T) {
	n, a := e2e.Up(t, nil)
	c := e2e.Dial(t, "customer", n.Addr(), a.Signup(t).Token, nil)
	require.NoError(t, c.Conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"), time.Now().Add(time.Second)))
	require.Equal(t, websocket.CloseGoingAway, c.CloseCode(closeWait))
}

// A client that answers no ping is closed once PongWait has passed.
func TestSilentClientIsClosed(t *testing.T) {
	n, a := e2e.Up(t, func(cfg *app.Config) {
		cfg.WS.PingInterval = 100 * time.Millisecond
		cfg.WS.PongWait = 400 * time.Millisecond
	})
	conn := dialRaw(t, n.Addr(), a.Signup(t).Token)
	conn.SetPingHandler(func(string) error { return nil }) // answers no ping
	c := e2e.Attach(t, "silent", conn, nil)
	require.Equal(t, ws.CloseNormal, c.CloseCode(closeWait))
	var ce *websocket.CloseError
	require.ErrorAs(t, c.Err(), &ce)
	require.Equal(t, "no pong", ce.Text)
	eventually(t, 10*time.Second, func() bool { return wsSessions(t, a) == 0 }, "the node forgets the session")
}

// Client frames over the inbound rate get rate_limited errors, and a
// client that keeps going is closed 1008; WebSocket pings count too (each
// costs the node a write) and are not answered over the rate.
func TestInboundRateLimit(t *testing.T) {
	n, a := e2e.Up(t, func(cfg *app.Config) {
		cfg.WS.InboundRate = 0.01 // effectively none after the burst
		cfg.WS.InboundBurst = 2
		cfg.WS.MaxRateStrikes = 4
	})
	cust := a.Signup(t)

	t.Run("messages", func(t *testing.T) {
		c := e2e.Dial(t, "customer", n.Addr(), cust.Token, nil)
		// One frame at a time (a close drops what is still queued): 2
		// pongs, then 3 errors; the 4th strike closes.
		var got []string
		for range 5 {
			c.Send(ping)
			f := c.Must(5 * time.Second)
			got = append(got, f.Type+"/"+f.Code)
		}
		require.Equal(t, []string{"pong/", "pong/", "error/rate_limited", "error/rate_limited", "error/rate_limited"}, got)
		c.Send(ping)
		require.Equal(t, ws.ClosePolicyViolation, c.CloseCode(closeWait))
	})
	t.Run("pings", func(t *testing.T) {
		conn := dialRaw(t, n.Addr(), cust.Token)
		var pongs atomic.Int64
		conn.SetPongHandler(func(string) error { pongs.Add(1); return nil })
		c := e2e.Attach(t, "customer", conn, nil)
		for range 6 {
			require.NoError(t, c.Conn.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(time.Second)))
		}
		require.Equal(t, ws.ClosePolicyViolation, c.CloseCode(closeWait))
		require.Equal(t, int64(2), pongs.Load(), "pings over the rate are not answered")
	})
}
