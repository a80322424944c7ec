package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/outrider/outrider/internal/backoff"
	"github.com/outrider/outrider/wire"
)

// The simulated drivers of the shift scenario: each one streams fixes
// from inside the city box over his own socket and answers the engine's
// offers the way the flags say (decline at once, or accept after a
// delay), then takes an accepted order through picked_up, in_transit and
// delivered over HTTP with his own token, which frees his capacity.

// box is the city: a square of side km around a centre.
type box struct{ lat0, lat1, lng0, lng1 float64 }

// metresPerDegLat is one degree of latitude on the mean Earth sphere.
const metresPerDegLat = 111_194.93

func newBox(lat, lng, km float64) box {
	dLat := km * 1000 / 2 / metresPerDegLat
	dLng := dLat / math.Cos(lat*math.Pi/180)
	return box{lat - dLat, lat + dLat, lng - dLng, lng + dLng}
}

// random is a point drawn uniformly from the box (uniform in degrees,
// which over 20 km is uniform in area to within a fraction of a percent).
func (b box) random(r *rand.Rand) (lat, lng float64) {
	return b.lat0 + r.Float64()*(b.lat1-b.lat0), b.lng0 + r.Float64()*(b.lng1-b.lng0)
}

// step moves (lat, lng) at most m metres in a random direction and keeps
// it inside the box.
func (b box) step(r *rand.Rand, lat, lng, m float64) (float64, float64) {
	dist, dir := r.Float64()*m, r.Float64()*2*math.Pi
	lat += dist * math.Cos(dir) / metresPerDegLat
	lng += dist * math.Sin(dir) / (metresPerDegLat * math.Cos(lat*math.Pi/180))
	return min(max(lat, b.lat0), b.lat1), min(max(lng, b.lng0), b.lng1)
}

// simDriver is one simulated driver: his socket's writer goroutine owns
// the socket's writes (fixes and the answers queued on out), his reader
// goroutine owns rng (the offer decisions).
type simDriver struct {
	id, token string
	conn      *websocket.Conn
	out       chan []byte
	rng       *rand.Rand
}

// answerFrame is an accept or decline frame for orderID; its id names
// the answer and the order, so the ack says which it is.
func answerFrame(kind, orderID string) []byte {
	b, _ := json.Marshal(map[string]string{"type": kind, "order_id": orderID, "id": kind + ":" + orderID})
	return b
}

// queue hands a frame to the driver's writer (dropped once ctx ends).
func (d *simDriver) queue(ctx context.Context, frame []byte) bool {
	select {
	case d.out <- frame:
		return true
	case <-ctx.Done():
		return false
	}
}

// orderRec is what the tool saw of one order. An offer may arrive before
// the POST that placed the order has returned, so either side creates it.
type orderRec struct {
	placed, firstOffer, accepted, delivered time.Time
	offers, declines                        int
}

// fleet is the shift's drivers' shared side: the orders they saw and
// their counters.
type fleet struct {
	cfg    shiftConfig
	box    box
	ctx    context.Context // the shift: answers and deliveries stop with it
	driver *api            // HTTP for the drivers' status changes
	sem    chan struct{}   // driver HTTP calls in flight

	mu     sync.Mutex
	orders map[string]*orderRec

	fixesSent, writeErrors, badFrames atomic.Int64
	closesLogged                      atomic.Int64
	offers, declines, accepts         atomic.Int64
	declinesAcked, acceptsAcked       atomic.Int64
	delivered                         atomic.Int64
	refused                           tally // answers refused, by answer and code
	withdrawn                         tally // job.withdrawn, by reason
	statusErrs                        tally // status changes that failed
	ended                             closeTally
	deliveries                        sync.WaitGroup
}

func newFleet(ctx context.Context, cfg shiftConfig, driverAPI *api) *fleet {
	return &fleet{cfg: cfg, box: newBox(cfg.lat, cfg.lng, cfg.boxKM), ctx: ctx, driver: driverAPI,
		sem: make(chan struct{}, cfg.driverHTTP), orders: map[string]*orderRec{}}
}

// rec is the record of order id; f.mu must be held.
func (f *fleet) rec(id string) *orderRec {
	r := f.orders[id]
	if r == nil {
		r = &orderRec{}
		f.orders[id] = r
	}
	return r
}

func (f *fleet) update(id string, fn func(r *orderRec)) {
	f.mu.Lock()
	fn(f.rec(id))
	f.mu.Unlock()
}

// write is d's writer: a fix every cfg.fixEvery (the first one at a
// random phase, so the fleet's fixes spread over the interval) and every
// answer queued on d.out, until ctx ends or the socket fails.
func (f *fleet) write(ctx context.Context, d *simDriver, lat, lng float64, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	send := func(b []byte) bool {
		_ = d.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := d.conn.WriteMessage(websocket.TextMessage, b); err != nil {
			if ctx.Err() == nil {
				f.writeErrors.Add(1)
			}
			return false
		}
		return true
	}
	if backoff.Sleep(ctx, time.Duration(rng.Int64N(int64(f.cfg.fixEvery)))) != nil {
		return
	}
	var clock fixClock
	buf := make([]byte, 0, 128)
	tick := time.NewTicker(f.cfg.fixEvery)
	defer tick.Stop()
	for {
		buf = fixFrame(buf[:0], lat, lng, clock.next(time.Now()))
		if !send(buf) {
			return
		}
		f.fixesSent.Add(1)
	answers:
		for {
			select {
			case <-ctx.Done():
				return
			case frame := <-d.out:
				if !send(frame) {
					return
				}
			case <-tick.C:
				lat, lng = f.box.step(rng, lat, lng, f.cfg.stepM)
				break answers
			}
		}
	}
}

// onFrame handles one frame on d's socket (his reader goroutine).
func (f *fleet) onFrame(d *simDriver, msg []byte, at time.Time) {
	switch {
	case bytes.Contains(msg, []byte(`"event":"job.offered"`)):
		var fr struct {
			Data wire.Job `json:"data"`
		}
		if json.Unmarshal(msg, &fr) != nil || fr.Data.OrderID == "" {
			f.badFrames.Add(1)
			return
		}
		f.offered(d, fr.Data.OrderID, at)
	case bytes.Contains(msg, []byte(`"event":"job.withdrawn"`)):
		var fr struct {
			Data wire.Job `json:"data"`
		}
		_ = json.Unmarshal(msg, &fr)
		f.withdrawn.count(dash(fr.Data.Reason))
	case bytes.Contains(msg, []byte(`"type":"ack"`)) || bytes.Contains(msg, []byte(`"type":"error"`)):
		var fr struct{ Type, ID, Code string }
		if json.Unmarshal(msg, &fr) != nil {
			f.badFrames.Add(1)
			return
		}
		f.answered(d, fr.Type, fr.ID, fr.Code, at)
	}
}

// offered records an offer and answers it: a decline at once with
// probability cfg.decline, else an accept after a delay drawn from
// [acceptMin, acceptMax].
func (f *fleet) offered(d *simDriver, orderID string, at time.Time) {
	f.offers.Add(1)
	f.update(orderID, func(r *orderRec) {
		r.offers++
		if r.firstOffer.IsZero() {
			r.firstOffer = at
		}
	})
	if d.rng.Float64() < f.cfg.decline {
		if d.queue(f.ctx, answerFrame("decline", orderID)) {
			f.declines.Add(1)
		}
		return
	}
	delay := f.cfg.acceptMin + time.Duration(d.rng.Int64N(int64(f.cfg.acceptMax-f.cfg.acceptMin)+1))
	time.AfterFunc(delay, func() {
		if d.queue(f.ctx, answerFrame("accept", orderID)) {
			f.accepts.Add(1)
		}
	})
}

// answered handles the ack or error frame of one of d's answers.
func (f *fleet) answered(d *simDriver, typ, id, code string, at time.Time) {
	kind, orderID, ok := strings.Cut(id, ":")
	if !ok || (kind != "accept" && kind != "decline") {
		return
	}
	if typ != "ack" {
		f.refused.count(kind + " " + dash(code))
		return
	}
	if kind == "decline" {
		f.declinesAcked.Add(1)
		f.update(orderID, func(r *orderRec) { r.declines++ })
		return
	}
	f.acceptsAcked.Add(1)
	f.update(orderID, func(r *orderRec) { r.accepted = at })
	if f.ctx.Err() != nil {
		return
	}
	f.deliveries.Add(1)
	time.AfterFunc(f.cfg.hold, func() {
		defer f.deliveries.Done()
		f.deliver(d, orderID)
	})
}

// deliver moves an accepted order to picked_up, in_transit and
// delivered as its driver.
func (f *fleet) deliver(d *simDriver, orderID string) {
	select {
	case f.sem <- struct{}{}:
	case <-f.ctx.Done():
		return
	}
	defer func() { <-f.sem }()
	// A change under way when the shift ends is finished (the client's
	// timeout bounds it), not cut off: the next change is not started.
	for _, st := range []string{"picked_up", "in_transit", "delivered"} {
		if f.ctx.Err() != nil {
			return
		}
		err := f.driver.call(context.WithoutCancel(f.ctx), http.MethodPut, "/v1/orders/"+orderID+"/status", d.token,
			map[string]string{"status": st}, nil)
		if err != nil {
			f.statusErrs.count(st + " " + errKey(err))
			return
		}
	}
	f.delivered.Add(1)
	f.update(orderID, func(r *orderRec) { r.delivered = time.Now() })
}

// errKey names an error for a tally: the HTTP status and problem code,
// or "transport".
func errKey(err error) string {
	var ae *apiError
	if !errors.As(err, &ae) {
		return "transport"
	}
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal([]byte(ae.Body), &p)
	return fmt.Sprintf("HTTP %d %s", ae.Status, dash(p.Code))
}
