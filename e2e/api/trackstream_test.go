package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/persistence/postgres"
	"github.com/outrider/outrider/transport/bus"
	"github.com/outrider/outrider/transport/httpapi"
	"github.com/outrider/outrider/transport/ws"
)

// sseMessage is one message of a Server-Sent Events stream: its fields,
// or only comments (a keep-alive).
type sseMessage struct {
	Event, ID, Data, Retry string
	Comment                string
}

// sseStream reads a tracking link's event stream with a plain HTTP
// client, as a browser's EventSource would.
type sseStream struct {
	resp *http.Response
	msgs chan sseMessage // closed at the end of the stream
	end  chan error      // then the read's error: io.EOF for a clean end
}

// openStream opens url and requires a stream (200, text/event-stream).
func openStream(t *testing.T, url string) *sseStream {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	s := &sseStream{resp: resp, msgs: make(chan sseMessage, 64), end: make(chan error, 1)}
	go s.read()
	return s
}

func (s *sseStream) read() {
	defer close(s.msgs)
	sc := bufio.NewScanner(s.resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var m sseMessage
	seen := false
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if seen {
				s.msgs <- m
			}
			m, seen = sseMessage{}, false
			continue
		}
		seen = true
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "":
			m.Comment = value
		case "event":
			m.Event = value
		case "id":
			m.ID = value
		case "data":
			m.Data = value
		case "retry":
			m.Retry = value
		}
	}
	err := sc.Err()
	if err == nil {
		err = io.EOF
	}
	s.end <- err
}

// next is the next message that is not a keep-alive.
func (s *sseStream) next(t *testing.T) sseMessage {
	t.Helper()
	for {
		m := s.any(t)
		if m.Event != "" || m.Data != "" {
			return m
		}
	}
}

// any is the next message, keep-alives included.
func (s *sseStream) any(t *testing.T) sseMessage {
	t.Helper()
	select {
	case m, ok := <-s.msgs:
		if !ok {
			t.Fatalf("the stream ended: %v", <-s.end)
		}
		return m
	case <-time.After(15 * time.Second):
		t.Fatal("no message on the stream for 15 s")
		return sseMessage{}
	}
}

// tracking requires a `tracking` event and decodes its data.
func (m sseMessage) tracking(t *testing.T) tracking {
	t.Helper()
	require.Equal(t, "tracking", m.Event, "%+v", m)
	require.NotContains(t, m.Data, "\n")
	var v tracking
	require.NoError(t, json.Unmarshal([]byte(m.Data), &v), m.Data)
	return v
}

// requireEnd requires `end` with data {}, then the end of the stream.
func (s *sseStream) requireEnd(t *testing.T) {
	t.Helper()
	m := s.next(t)
	require.Equal(t, "end", m.Event)
	require.JSONEq(t, "{}", m.Data)
	select {
	case _, ok := <-s.msgs:
		require.False(t, ok, "nothing after end")
	case <-time.After(10 * time.Second):
		t.Fatal("the stream stayed open after end")
	}
	require.ErrorIs(t, <-s.end, io.EOF)
}

// trackedOrder places an order with places on the map as a new customer
// and returns it with its tracking link's path.
func trackedOrder(t *testing.T, a *e2e.API) (orderID, path string) {
	t.Helper()
	cust := a.Signup(t)
	body := e2e.ValidOrder()
	body["dropoff"] = map[string]any{"address": "Unter den Linden 5, Berlin", "lat": 52.5170, "lng": 13.3889}
	var o struct{ ID string }
	cust.Post(t, "/v1/orders", body).Decode(t, http.StatusCreated, &o)
	var link struct{ Token, Path string }
	cust.Get(t, "/v1/orders/"+o.ID+"/tracking-link").Decode(t, http.StatusOK, &link)
	return o.ID, link.Path
}

// TestTrackingStream: a tracking link's event stream sends the order as
// the link shows it at once, then after each event of its life — assign,
// accept, picked up, in transit, delivered — and as the driver who holds
// it moves (his position from the bus at once, a burst of positions
// coalesced to the newest, an estimated arrival once he has one), then
// `end`, and closes.
func TestTrackingStream(t *testing.T) {
	const interval = 2 * time.Second
	n, a := e2e.Up(t, func(cfg *app.Config) {
		cfg.HTTP.TrackingStreamInterval = interval
		// The driver's row keeps his first position only: a re-read of
		// the order must keep the newer one the stream saw.
		cfg.Locations.LastEvery = time.Hour
	})
	drv := a.CreateDriver(t, 1, true)
	id, path := trackedOrder(t, a)
	s := openStream(t, "http://"+n.Addr()+path+"/events")

	m := s.next(t)
	require.Equal(t, "2000", m.Retry, "a browser reconnects after 2 s")
	require.Equal(t, "1", m.ID, "id: the order's version")
	v := m.tracking(t)
	require.Equal(t, id, v.OrderID)
	require.Equal(t, "pending", v.Status)
	require.Nil(t, v.Driver)

	a.Admin.Assign(t, id, drv.ID())
	m = s.next(t)
	require.Equal(t, "2", m.ID)
	v = m.tracking(t)
	require.Equal(t, "assigned", v.Status)
	require.Nil(t, v.Driver, "assigned: not his yet")

	drv.OrderAction(t, id, "accept", nil)
	m = s.next(t)
	require.Equal(t, "3", m.ID)
	v = m.tracking(t)
	require.Equal(t, "accepted", v.Status)
	require.NotNil(t, v.Driver)
	require.Equal(t, strings.Fields(drv.User.Name)[0], v.Driver.Name)
	require.Nil(t, v.Driver.Lat, "no position yet")
	require.Nil(t, v.ETA)

	// A position: on the stream at once, with an estimated arrival.
	conn := e2e.Dial(t, "driver", n.Addr(), drv.Token, nil)
	t0 := time.Now().Add(-20 * time.Second)
	at := func(i int) int64 { return t0.Add(time.Duration(i) * time.Second).UnixMilli() }
	lat := func(i int) float64 { return 52.5300 + 0.0001*float64(i) }
	conn.Send(map[string]any{"type": "location", "lat": lat(0), "lng": 13.4132, "ts": at(0)})
	m = s.next(t)
	require.Equal(t, "3", m.ID, "a move is not an order event")
	v = m.tracking(t)
	require.Equal(t, "accepted", v.Status)
	require.InDelta(t, lat(0), *v.Driver.Lat, 1e-9)
	require.NotNil(t, v.ETA, "a position gives an estimated arrival")
	require.Positive(t, v.ETA.Seconds)

	// Four positions 300 ms apart, within the interval: at most two
	// events (one at once, one when the interval has passed), the last
	// the newest.
	const burst = 4
	for i := 1; i <= burst; i++ {
		if i > 1 {
			<-time.After(300 * time.Millisecond) // the driver's pace
		}
		conn.Send(map[string]any{"type": "location", "lat": lat(i), "lng": 13.4132, "ts": at(i)})
	}
	moves := 0
	for {
		v = s.next(t).tracking(t)
		moves++
		if *v.Driver.Lat == lat(burst) {
			break
		}
	}
	require.LessOrEqual(t, moves, 2, "positions are coalesced to one per %s", interval)

	for _, st := range e2e.Lifecycle[:2] {
		drv.SetStatus(t, id, st)
		v = s.next(t).tracking(t)
		require.Equal(t, st, v.Status)
		require.NotNil(t, v.Driver)
		require.InDelta(t, lat(burst), *v.Driver.Lat, 1e-9, "the newest position stays after a re-read")
		require.NotNil(t, v.ETA)
	}
	drv.SetStatus(t, id, "delivered")
	m = s.next(t)
	require.Equal(t, "6", m.ID)
	v = m.tracking(t)
	require.Equal(t, "delivered", v.Status)
	require.Nil(t, v.Driver)
	require.Nil(t, v.ETA)
	require.Equal(t, []string{"pending", "assigned", "accepted", "picked_up", "in_transit", "delivered"}, statuses(v))
	s.requireEnd(t)

	// The ended order's link streams its last state and ends at once.
	s = openStream(t, "http://"+n.Addr()+path+"/events")
	require.Equal(t, "delivered", s.next(t).tracking(t).Status)
	s.requireEnd(t)
}

// TestTrackingStreamRefusals: a forged link is answered 404 and a node
// whose tracking streams are full 503 unavailable with Retry-After, as
// problem+json; a stream that closes frees its slot.
func TestTrackingStreamRefusals(t *testing.T) {
	n, a := e2e.Up(t, func(cfg *app.Config) { cfg.HTTP.TrackingStreams = 1 })
	id, path := trackedOrder(t, a)
	base := "http://" + n.Addr()
	get := func(p string) (int, http.Header, map[string]any) {
		t.Helper()
		resp, err := http.Get(base + p)
		require.NoError(t, err)
		defer resp.Body.Close()
		var body map[string]any
		if resp.StatusCode != http.StatusOK {
			require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		}
		return resp.StatusCode, resp.Header, body
	}

	first := openStream(t, base+path+"/events")
	require.Equal(t, id, first.next(t).tracking(t).OrderID)
	status, h, body := get(path + "/events")
	require.Equal(t, http.StatusServiceUnavailable, status, "one stream per node")
	require.Equal(t, "unavailable", body["code"])
	require.Equal(t, "5", h.Get("Retry-After"))

	token := strings.TrimPrefix(path, "/v1/track/")
	for _, bad := range []string{id + "." + strings.Repeat("A", 22), id, token[:len(token)-1]} {
		status, _, body = get("/v1/track/" + bad + "/events")
		require.Equal(t, http.StatusNotFound, status, bad)
		require.Equal(t, "not_found", body["code"])
	}

	require.NoError(t, first.resp.Body.Close())
	e2e.Eventually(t, 10*time.Second, func() bool {
		resp, err := http.Get(base + path + "/events")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "the closed stream's slot to be free")
}

// TestTrackingStreamOnAnotherNode: a stream served by a second API node —
// its own store pool, NATS connection and realtime hub, sharing only
// Postgres and NATS with the node the order is driven through — hears the
// order's events from the bus. Its HTTP server has read and write
// timeouts of 300 ms, which must not end a stream that lives longer; its
// keep-alives come every 100 ms of silence; stopping the API ends the
// stream.
func TestTrackingStreamOnAnotherNode(t *testing.T) {
	var pgURL, schema, namespace string
	_, a := e2e.Up(t, func(cfg *app.Config) { pgURL, schema, namespace = cfg.PGURL, cfg.PGSchema, cfg.Relay.Namespace })
	drv := a.CreateDriver(t, 1, true)
	id, path := trackedOrder(t, a)

	store, err := postgres.Open(context.Background(), pgURL, postgres.Options{Schema: schema, MaxConns: 4})
	require.NoError(t, err)
	t.Cleanup(store.Close)
	nc, err := nats.Connect(e2e.NATSURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	gw := ws.New(ws.Config{}, bus.NewSubscriber(nc, namespace), store, nil, nil, nil, nil)
	api, err := httpapi.New(httpapi.Config{JWTSecret: []byte(e2e.JWTSecret), TrackingStreamKeepAlive: 100 * time.Millisecond},
		httpapi.Deps{Store: store, OrderFeed: gw})
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(api.Handler())
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)

	s := openStream(t, srv.URL+path+"/events")
	require.Equal(t, "pending", s.next(t).tracking(t).Status)
	// Past both timeouts several times over, kept alive.
	start := time.Now()
	for keep := 0; keep < 10; keep++ {
		require.Equal(t, "keep-alive", s.any(t).Comment)
	}
	require.Greater(t, time.Since(start), 3*300*time.Millisecond)

	a.Admin.Assign(t, id, drv.ID())
	v := s.next(t).tracking(t)
	require.Equal(t, "assigned", v.Status, "the event, written through the other node, came over the bus")

	require.NoError(t, api.Stop(context.Background()))
	deadline := time.After(10 * time.Second)
	for open := true; open; { // past the keep-alives sent before the stop
		select {
		case _, open = <-s.msgs:
		case <-deadline:
			t.Fatal("the stream stayed open after the API stopped")
		}
	}
	require.ErrorIs(t, <-s.end, io.EOF)
}
