package main

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/wire"
)

func TestShiftFlags(t *testing.T) {
	t.Parallel()
	var tg target
	c, err := parseShift(&tg, nil)
	require.NoError(t, err)
	require.Equal(t, 10_000, c.drivers)
	require.Equal(t, 100.0, c.rate)
	require.Equal(t, time.Minute, c.duration)
	require.Equal(t, 0.2, c.decline)
	require.Equal(t, 500*time.Millisecond, c.acceptMin)
	require.Equal(t, 3*time.Second, c.acceptMax)
	require.Equal(t, 5*time.Second, c.hold)
	require.Equal(t, "127.0.0.1:8787", tg.addr)

	for _, bad := range [][]string{
		{"-decline", "1.5"},
		{"-accept-min", "4s", "-accept-max", "3s"},
		{"-drivers", "0"},
		{"-rate", "0"},
		{"-fix-every", "90s"},
		{"-step-m", "500"},
		{"-addr", "10.1.2.3:8787"},
	} {
		_, err := parseShift(&target{}, bad)
		require.Error(t, err, "%v", bad)
	}
}

func TestBoxRandomAndStep(t *testing.T) {
	t.Parallel()
	b := newBox(52.52, 13.405, 20)
	require.InDelta(t, 20_000, (b.lat1-b.lat0)*metresPerDegLat, 1)
	require.InDelta(t, 20_000, (b.lng1-b.lng0)*metresPerDegLat*math.Cos(52.52*math.Pi/180), 1)
	r := rand.New(rand.NewPCG(1, 2))
	inside := func(lat, lng float64) bool { return lat >= b.lat0 && lat <= b.lat1 && lng >= b.lng0 && lng <= b.lng1 }
	for range 1000 {
		lat, lng := b.random(r)
		require.True(t, inside(lat, lng))
		lat2, lng2 := b.step(r, lat, lng, 8)
		require.True(t, inside(lat2, lng2))
		dy := (lat2 - lat) * metresPerDegLat
		dx := (lng2 - lng) * metresPerDegLat * math.Cos(lat*math.Pi/180)
		require.LessOrEqual(t, math.Hypot(dx, dy), 8.01)
	}
	lat, lng := b.step(r, b.lat1, b.lng1, 50) // a corner: clamped back inside
	require.True(t, inside(lat, lng))
}

func TestAnswerFrame(t *testing.T) {
	t.Parallel()
	var f map[string]string
	require.NoError(t, json.Unmarshal(answerFrame("accept", "ord_1"), &f))
	require.Equal(t, map[string]string{"type": "accept", "order_id": "ord_1", "id": "accept:ord_1"}, f)
}

func TestErrKey(t *testing.T) {
	t.Parallel()
	require.Equal(t, "HTTP 409 invalid_transition", errKey(&apiError{Status: 409, Body: `{"code":"invalid_transition","status":409}`}))
	require.Equal(t, "HTTP 502 -", errKey(&apiError{Status: 502, Body: "bad gateway"}))
	require.Equal(t, "transport", errKey(context.DeadlineExceeded))
}

func TestTallyString(t *testing.T) {
	t.Parallel()
	var tl tally
	require.Equal(t, "0", tl.String())
	tl.count("b")
	tl.count("a")
	tl.count("b")
	require.Equal(t, "3 (1×a, 2×b)", tl.String())
	var c closeTally
	c.add(nil)
	require.Equal(t, "1 (1×code 0)", c.String())
}

// offerFrame is a job.offered frame as the gateway writes it
// (transport/ws jobFrame).
func offerFrame(t *testing.T, driverID, orderID string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"type": "event", "channel": "user:" + driverID, "seq": 0, "event": wire.JobOffered,
		"data": wire.Job{Event: wire.JobOffered, DriverID: driverID, OrderID: orderID, OfferID: orderID + ".1",
			ExpiresAt: "2026-01-01T00:00:45.000Z", At: "2026-01-01T00:00:00.000Z"},
		"at": "2026-01-01T00:00:00.000Z"})
	require.NoError(t, err)
	return b
}

// statusNode is a fake node that takes the drivers' status changes.
type statusNode struct {
	mu      sync.Mutex
	changes []string // "order status token"
}

func (n *statusNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct{ Status string }
	_ = json.NewDecoder(r.Body).Decode(&body)
	id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/orders/"), "/status")
	n.mu.Lock()
	n.changes = append(n.changes, id+" "+body.Status+" "+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	n.mu.Unlock()
	_, _ = w.Write([]byte(`{}`))
}

func (n *statusNode) seen() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.changes...)
}

// TestFleetAnswersOffers drives one simulated driver through an offer
// he declines and one he accepts and delivers (against a fake node),
// and checks the figures the shift reports from them.
func TestFleetAnswersOffers(t *testing.T) {
	t.Parallel()
	node := &statusNode{}
	srv := httptest.NewServer(node)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := shiftConfig{decline: 0.5, acceptMin: 10 * time.Millisecond, acceptMax: 20 * time.Millisecond,
		hold: 10 * time.Millisecond, driverHTTP: 2, lat: 52.52, lng: 13.405, boxKM: 20}
	f := newFleet(ctx, cfg, &api{base: srv.URL, client: srv.Client()})
	d := &simDriver{id: "usr_d", token: "tok-d", out: make(chan []byte, 8), rng: rand.New(rand.NewPCG(7, 7))}

	t0 := time.Now()
	f.update("ord_a", func(r *orderRec) { r.placed = t0 })
	f.update("ord_b", func(r *orderRec) { r.placed = t0 })
	f.update("ord_never", func(r *orderRec) { r.placed = t0 })

	// offer hands d an offer of id, answers it as the node would and
	// returns the kind of d's answer.
	offer := func(id string, at time.Duration) string {
		f.onFrame(d, offerFrame(t, d.id, id), t0.Add(at))
		var frame map[string]string
		select {
		case b := <-d.out:
			require.NoError(t, json.Unmarshal(b, &frame))
		case <-time.After(5 * time.Second):
			t.Fatal("no answer to the offer")
		}
		require.Equal(t, id, frame["order_id"])
		require.Equal(t, frame["type"]+":"+id, frame["id"])
		ack, _ := json.Marshal(map[string]string{"type": "ack", "id": frame["id"]})
		f.onFrame(d, ack, t0.Add(at+time.Second))
		return frame["type"]
	}
	f.cfg.decline = 1
	require.Equal(t, "decline", offer("ord_a", 100*time.Millisecond))
	require.Equal(t, "decline", offer("ord_b", 300*time.Millisecond))
	f.cfg.decline = 0
	require.Equal(t, "accept", offer("ord_a", 1200*time.Millisecond))
	accepted := "ord_a"
	require.Eventually(t, func() bool { return f.delivered.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
	f.deliveries.Wait()
	require.Equal(t, []string{accepted + " picked_up tok-d", accepted + " in_transit tok-d", accepted + " delivered tok-d"}, node.seen())

	// A refused answer and a withdrawal are tallied.
	f.onFrame(d, []byte(`{"type":"error","id":"accept:ord_x","code":"offer_expired","message":"too late"}`), time.Now())
	f.onFrame(d, []byte(`{"type":"event","channel":"user:usr_d","event":"job.withdrawn","data":{"event":"job.withdrawn","driver_id":"usr_d","order_id":"ord_x","offer_id":"ord_x.1","reason":"expired","at":"2026-01-01T00:00:00.000Z"},"at":"2026-01-01T00:00:00.000Z"}`), time.Now())
	require.Equal(t, map[string]int{"accept offer_expired": 1}, f.refused.counts())
	require.Equal(t, map[string]int{"expired": 1}, f.withdrawn.counts())

	r := f.result(cfg, &placer{}, f.placedOrders(), []*wire.Dispatch{
		{State: "accepted", Attempts: []wire.DispatchAttempt{{DriverID: "usr_d", Outcome: "accepted", OfferedAt: t0.Add(50 * time.Millisecond).UTC().Format(time.RFC3339Nano)}}},
		{State: "failed", EscalationReason: "max_attempts", Attempts: []wire.DispatchAttempt{{DriverID: "usr_gone"}}},
		nil,
	}, []string{"usr_d"})
	require.Equal(t, 1, r.NeverOffered, "ord_never")
	require.Equal(t, durJSON{N: 2, P50: 100, P90: 300, P99: 300, Max: 300}, r.PlacedToOffered, "first offers only")
	require.Equal(t, durJSON{N: 1, P50: 2200, P90: 2200, P99: 2200, Max: 2200}, r.PlacedToAccepted)
	require.Equal(t, []sliceJSON{{FromS: 0, Placed: 3, OfferedP50: 100, OfferedMax: 300, NeverOffered: 1}}, r.Slices)
	require.Equal(t, "100.0 ms", r.slicesString())
	r.Slices = append(r.Slices, sliceJSON{FromS: 10, Placed: 4, NeverOffered: 4})
	require.Equal(t, "100.0 - ms", r.slicesString())
	require.Equal(t, 50.0, r.PlacedToCommitted.P50)
	require.Equal(t, 1, r.Escalated)
	require.Equal(t, 1, r.OffersOutside)
	require.Equal(t, 2, r.Checked)
	require.Equal(t, int64(1), r.Delivered)
	require.Equal(t, int64(1), r.AcceptsAcked)
	require.Equal(t, int64(2), r.DeclinesAcked)
	require.Equal(t, 2, r.OffersMax)
	require.Equal(t, 1.0, r.OffersMean)
	f.mu.Lock()
	require.Equal(t, 1, f.orders["ord_a"].declines)
	f.mu.Unlock()
}
