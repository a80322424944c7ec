package api_test

// Benchmarks of the HTTP layer on the real Postgres, in-process: client,
// node and Postgres share this machine's cores. See BENCHMARKS.md for the
// commands and figures.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/worker"
)

type benchClient struct {
	base string
	hc   *http.Client
}

func newBenchClient(n *app.Node) *benchClient {
	tr := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, MaxConnsPerHost: 1024}
	return &benchClient{base: "http://" + n.Addr(), hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (c *benchClient) do(b testing.TB, method, path, token string, body any, want int) map[string]any {
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		b.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		b.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return out
}

func (c *benchClient) login(b testing.TB, email, password string) (token, id string) {
	out := c.do(b, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password}, 200)
	return out["access_token"].(string), out["user"].(map[string]any)["id"].(string)
}

func (c *benchClient) customers(b testing.TB, n int) []string {
	tokens := make([]string, n)
	for i := range tokens {
		out := c.do(b, "POST", "/v1/auth/signup", "", map[string]string{
			"name": "Bench", "email": fmt.Sprintf("bench-%d-%d@example.com", time.Now().UnixNano(), i), "password": "bench-password",
		}, 201)
		tokens[i] = out["access_token"].(string)
	}
	return tokens
}

var orderBody = map[string]any{
	"pickup": map[string]any{"address": "1 Depot Rd", "lat": 52.52, "lng": 13.40}, "dropoff": map[string]any{"address": "9 Home St"},
	"delivery_option": "standard",
}

// BenchmarkPlaceOrder: POST /v1/orders from 64 concurrent clients; every
// order is committed (journal, read model, timeline, outbox) before 201.
func BenchmarkPlaceOrder(b *testing.B) {
	n := e2e.Start(b, nil)
	c := newBenchClient(n)
	tokens := c.customers(b, 64)
	var next atomic.Int64
	b.SetParallelism(32) // 32 × GOMAXPROCS(2) = 64 clients
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		tok := tokens[int(next.Add(1)-1)%len(tokens)]
		for pb.Next() {
			c.do(b, "POST", "/v1/orders", tok, orderBody, 201)
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "orders/s")
}

// BenchmarkAssign: POST /v1/orders/:id/assign from 64 concurrent admin
// clients, each order to a driver with spare capacity (the commit
// reserves capacity in the same transaction).
func BenchmarkAssign(b *testing.B) {
	n := e2e.Start(b, nil)
	c := newBenchClient(n)
	admin, _ := c.login(b, e2e.AdminEmail, e2e.AdminPassword)
	cust := c.customers(b, 1)[0]
	const capacity = 20
	drivers := make([]string, 0, b.N/capacity+1)
	for i := 0; i <= b.N/capacity; i++ {
		email := fmt.Sprintf("driver-%d-%d@example.com", time.Now().UnixNano(), i)
		c.do(b, "POST", "/v1/users", admin, map[string]any{"name": "D", "email": email, "password": "driver-password", "role": "driver", "capacity": capacity}, 201)
		tok, id := c.login(b, email, "driver-password")
		c.do(b, "PUT", "/v1/drivers/me/availability", tok, map[string]any{"available": true}, 200)
		drivers = append(drivers, id)
	}
	orders := make([]string, b.N)
	var wg sync.WaitGroup
	var idx atomic.Int64
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(idx.Add(1) - 1); i < b.N; i = int(idx.Add(1) - 1) {
				orders[i] = c.do(b, "POST", "/v1/orders", cust, orderBody, 201)["id"].(string)
			}
		}()
	}
	wg.Wait()
	var next atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			// Round-robin over the drivers: concurrent assigns rarely share a
			// driver row (a real fleet's case), each stays within capacity.
			c.do(b, "POST", "/v1/orders/"+orders[i]+"/assign", admin, map[string]any{"driver_id": drivers[int(i)%len(drivers)]}, 200)
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "assigns/s")
}

// BenchmarkPlaceOrderAt500: an open-loop load of 500 orders/s (a request
// starts every 2 ms whether or not earlier ones finished); reports the
// latency percentiles. Run with -benchtime=5000x for 10 s of load.
func BenchmarkPlaceOrderAt500(b *testing.B) {
	n := e2e.Start(b, nil)
	c := newBenchClient(n)
	tokens := c.customers(b, 64)
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		<-tick.C
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			t0 := time.Now()
			c.do(b, "POST", "/v1/orders", tokens[i%len(tokens)], orderBody, 201)
			lat[i] = time.Since(t0)
		}(i)
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1.0), "max-ms")
}

// BenchmarkStatusWhileWorker: open-loop status changes (PUT
// /v1/orders/:id/status, 200/s) with the worker role down (the node is
// --roles api: events pile up in JetStream) and busy (the worker runs in
// the node and every event is also delivered to a webhook receiver that
// takes 500 ms to answer, so its delivery slots stay full, while it
// stores and pushes notifications). Reports latency percentiles; the
// worker is off the request path, so they should not move. Run with
// -benchtime=3000x for 15 s of load.
//
// Each mode checks its premise over the timed loop and fails otherwise:
// busy, that the receiver had a delivery in flight for at least 90% of
// it (reported as busy-%, with the mean deliveries in flight as
// in-flight); down, that no delivery reached the receiver at all.
func BenchmarkStatusWhileWorker(b *testing.B) {
	for _, mode := range []string{"down", "busy"} {
		b.Run(mode, func(b *testing.B) {
			slots := 0 // the worker's deliveries at once
			n := e2e.Start(b, func(c *app.Config) {
				if mode == "down" {
					c.Roles = []string{"api"}
				}
				slots = c.Worker.Concurrency
				if slots <= 0 {
					slots = worker.DefaultConcurrency
				}
			})
			c := newBenchClient(n)
			admin, _ := c.login(b, e2e.AdminEmail, e2e.AdminPassword)
			slow := startSlowReceiver(b, 500*time.Millisecond)
			c.do(b, "POST", "/v1/webhooks", admin, map[string]any{"url": slow.URL, "event_types": []string{"*"}}, 201)

			// Accepted orders, three status changes each.
			orders := (b.N + 2) / 3
			cust := c.customers(b, 1)[0]
			const capacity = 20 // the most a driver may have
			type job struct{ order, token, status string }
			jobs := make([]job, 0, orders*3)
			var driverTok, driverID string
			for i := range orders {
				if i%capacity == 0 {
					email := fmt.Sprintf("wdriver-%d-%d@example.com", time.Now().UnixNano(), i)
					c.do(b, "POST", "/v1/users", admin, map[string]any{"name": "D", "email": email, "password": "driver-password", "role": "driver", "capacity": capacity}, 201)
					driverTok, driverID = c.login(b, email, "driver-password")
					c.do(b, "PUT", "/v1/drivers/me/availability", driverTok, map[string]any{"available": true}, 200)
				}
				id := c.do(b, "POST", "/v1/orders", cust, orderBody, 201)["id"].(string)
				c.do(b, "POST", "/v1/orders/"+id+"/assign", admin, map[string]any{"driver_id": driverID}, 200)
				c.do(b, "POST", "/v1/orders/"+id+"/accept", driverTok, nil, 200)
				for _, st := range []string{"picked_up", "in_transit", "delivered"} {
					jobs = append(jobs, job{id, driverTok, st})
				}
			}
			// A backlog of two deliveries per slot more (a second of the
			// receiver's time), so that even a short run (-benchtime 1x)
			// starts with every slot taken and stays so; the same in both
			// modes, so they differ only in the worker.
			for range 2 * slots {
				c.do(b, "POST", "/v1/orders", cust, orderBody, 201)
			}
			if mode == "busy" {
				slow.waitInFlight(b, slots, 30*time.Second)
			}

			// Steps of one order run in sequence; orders interleave.
			next := make(map[string]chan struct{}, orders)
			lat := make([]time.Duration, b.N)
			var wg sync.WaitGroup
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			b.ResetTimer()
			from := slow.mark()
			for i := 0; i < b.N; i++ {
				<-tick.C
				// Interleave: the i-th request is step i/orders of order i%orders.
				j := jobs[(i%orders)*3+i/orders]
				prev := next[j.order]
				done := make(chan struct{})
				next[j.order] = done
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					defer close(done)
					if prev != nil {
						<-prev
					}
					t0 := time.Now()
					c.do(b, "PUT", "/v1/orders/"+j.order+"/status", j.token, map[string]any{"status": j.status}, 200)
					lat[i] = time.Since(t0)
				}(i)
			}
			wg.Wait()
			b.StopTimer()
			to := slow.mark()

			window := to.at.Sub(from.at)
			busy := (to.busy - from.busy).Seconds() / window.Seconds()
			switch mode {
			case "busy":
				if busy < 0.9 {
					b.Fatalf("premise: the worker was not kept busy: the receiver had a delivery in flight %.0f%% of the %s timed loop (%d received in all)",
						100*busy, window, to.received)
				}
				b.ReportMetric(100*busy, "busy-%")
				b.ReportMetric((to.area-from.area)/window.Seconds(), "in-flight")
			case "down":
				if to.received != 0 {
					b.Fatalf("premise: the worker is down, yet %d deliveries reached the receiver", to.received)
				}
			}
			slices.Sort(lat)
			pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000 }
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(pct(1.0), "max-ms")
		})
	}
}

// slowReceiver is the webhook endpoint of BenchmarkStatusWhileWorker. It
// answers each delivery after a delay (or gives up with the client), and
// accounts for its own load: how long it had at least one delivery in
// flight, and the integral of the deliveries in flight over time, so the
// benchmark can tell the worker really was busy.
type slowReceiver struct {
	*httptest.Server

	mu       sync.Mutex // guards the fields below
	inFlight int
	received int           // deliveries that arrived, in all
	since    time.Time     // when busy and area were last brought up to date
	busy     time.Duration // time with inFlight > 0, until since
	area     float64       // ∫ inFlight dt in seconds, until since
}

func startSlowReceiver(b *testing.B, delay time.Duration) *slowReceiver {
	s := &slowReceiver{since: time.Now()}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.add(1)
		defer s.add(-1)
		_, _ = io.Copy(io.Discard, r.Body)
		// A slow receiver, on purpose: it answers after delay, or gives
		// up with the client.
		select {
		case <-time.After(delay):
			w.WriteHeader(http.StatusNoContent)
		case <-r.Context().Done():
		}
	}))
	b.Cleanup(s.Close)
	return s
}

// add changes the deliveries in flight by d.
func (s *slowReceiver) add(d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(time.Now())
	s.inFlight += d
	if d > 0 {
		s.received += d
	}
}

// advance brings busy and area up to now; mu is held.
func (s *slowReceiver) advance(now time.Time) {
	dt := now.Sub(s.since)
	if s.inFlight > 0 {
		s.busy += dt
	}
	s.area += float64(s.inFlight) * dt.Seconds()
	s.since = now
}

// receiverMark is the receiver's accounts at one instant; two marks
// bound a window.
type receiverMark struct {
	at       time.Time
	busy     time.Duration
	area     float64
	received int
}

func (s *slowReceiver) mark() receiverMark {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.advance(now)
	return receiverMark{at: now, busy: s.busy, area: s.area, received: s.received}
}

// waitInFlight waits until want deliveries are in flight at once.
func (s *slowReceiver) waitInFlight(b *testing.B, want int, timeout time.Duration) {
	e2e.Eventually(b, timeout, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.inFlight >= want
	}, "premise: the worker never had %d deliveries in flight within %s", want, timeout)
}
