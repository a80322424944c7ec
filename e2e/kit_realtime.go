package e2e

// What the realtime tests (e2e/realtime, and transport/ws's tests that
// need the gateway's hooks) need of the kit beyond ws.go: a WS on a
// connection the test prepared itself, the location frame, reading
// without a frame being required, and the WebSocket handshake sent
// through the validated HTTP client. And what the invariant tests
// (e2e/invariants) need: requests validated before a race, so that
// they leave together when released.

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/wire"
)

// SkipNotifications drops only the notification.created events the
// worker pushes on user: channels, and keeps every other frame of those
// channels (pushes such as job.offered, the answers to subscribes to
// them): for tests of user channels, where SkipUserChannels would hide
// what they are about.
func SkipNotifications(f Frame) bool { return f.Type == "event" && f.Event == "notification.created" }

// Attach makes a WS of conn, a connection the test opened with DialRaw
// and prepared before any frame is read, and starts its reader. Gorilla
// calls the ping, pong and close handlers on the goroutine that reads,
// so a test that replaces one (a client that answers no ping, one that
// counts pongs) sets it on conn before Attach, never after: the reader
// would race with it. conn is closed when t ends; skip is as for Dial.
func Attach(t interface {
	TB
	cleaner
}, name string, conn *websocket.Conn, skip func(Frame) bool) *WS {
	t.Helper()
	if skip == nil {
		skip = SkipUserChannels
	}
	c := &WS{t: t, Name: name, Conn: conn, frames: make(chan Frame, 1024)}
	go func() {
		defer close(c.frames)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				c.err = err
				return
			}
			var f Frame
			if err := json.Unmarshal(data, &f); err != nil {
				c.err = fmt.Errorf("frame %q: %w", data, err)
				return
			}
			f.Raw = data
			if !skip(f) {
				c.frames <- f
			}
		}
	}()
	t.Cleanup(func() { _ = conn.Close() })
	return c
}

// Location is a location frame: a driver's live position on an order
// channel (DESIGN.md §4), Ts the time the phone took it (RFC 3339).
type Location struct {
	Type     string `json:"type"`
	Channel  string `json:"channel"`
	DriverID string `json:"driver_id"`
	wire.Position
	Ts string `json:"ts"`
}

// Location decodes a location frame.
func (f Frame) Location(t TB) Location {
	t.Helper()
	var l Location
	require.NoError(t, json.Unmarshal(f.Raw, &l), "location frame %s", f.Raw)
	require.Equal(t, "location", l.Type, "%s", f.Raw)
	return l
}

// NextLocation reads until a location frame arrives and returns it;
// frames of every other kind before it are passed over. It fails the
// test after timeout or when the connection closes.
func (c *WS) NextLocation(timeout time.Duration) Location {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if f := c.Must(time.Until(deadline)); f.Type == "location" {
			return f.Location(c.t)
		}
	}
}

// Collect returns the frames (skipped ones aside) that arrive within d,
// in order, and returns early if the connection closes. Unlike Next it
// does not fail when nothing arrives: for counting what a throttle lets
// through in a while.
func (c *WS) Collect(d time.Duration) []Frame {
	out := c.pending
	c.pending = nil
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				return out
			}
			out = append(out, f)
		case <-timer.C:
			return out
		}
	}
}

// websocketGUID is RFC 6455's constant of the Sec-WebSocket-Accept
// digest.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Upgrade sends the opening handshake of the realtime WebSocket,
// GET /v1/ws with query ("" or "?access_token=…"), as u through the
// Client, so that the answer, a refusal above all, is held to the
// OpenAPI document like every other. A 101 must carry the
// Sec-WebSocket-Accept of the key sent; its connection is closed at once.
// For tests of the handshake: a test that talks over the socket uses
// Dial.
func (u *Caller) Upgrade(t TB, query string) *Response {
	t.Helper()
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	r := u.Get(t, "/v1/ws"+query,
		Header("Connection", "Upgrade"), Header("Upgrade", "websocket"),
		Header("Sec-WebSocket-Version", "13"), Header("Sec-WebSocket-Key", key))
	if r.Status == http.StatusSwitchingProtocols {
		sum := sha1.Sum([]byte(key + websocketGUID))
		require.Equal(t, base64.StdEncoding.EncodeToString(sum[:]), r.Header.Get("Sec-WebSocket-Accept"), "%s", r)
	}
	return r
}

// Check validates the request that Try(t, method, path, body, opts...)
// would send against the OpenAPI document, and sends nothing; a request
// that does not conform is reported to t, as by Try.
func (u *Caller) Check(t TB, method, path string, body any, opts ...Opt) {
	t.Helper()
	dry := *u
	dry.Client = &Client{Base: u.Client.Base, HTTP: &http.Client{Transport: notSent{}}}
	_, err := dry.Try(t, method, path, body, opts...)
	require.ErrorIs(t, err, errNotSent)
}

// Checked marks a request the test has validated beforehand with Check:
// Try sends it without validating it again (the answer still is). For
// requests released together in a race: validating each on its way out
// takes about a millisecond, with -race, and would spread them out.
func Checked() Opt { return func(c *reqConf) { c.validateReq = false } }

// notSent is the transport of Check: it sends nothing.
type notSent struct{}

var errNotSent = errors.New("e2e: request checked, not sent")

func (notSent) RoundTrip(*http.Request) (*http.Response, error) { return nil, errNotSent }
