package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/outrider/outrider/cmd/outrider-chaos/oracle"
	"github.com/outrider/outrider/internal/backoff"
	"github.com/outrider/outrider/internal/fleet"
)

// router is the harness's view of which nodes take traffic, as a load
// balancer's health checks would have it: a node leaves it a moment
// (Config.LBDelay) after a fault hits it and comes back once it is ready
// again.
type router struct {
	mu    sync.RWMutex
	addrs map[int]string // node index → host:port
	gens  map[int]int    // node index → times set
}

func newRouter() *router { return &router{addrs: map[int]string{}, gens: map[int]int{}} }

func (r *router) set(i int, addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addrs[i] = addr
	r.gens[i]++
}

// generation counts how often node i was (re)added.
func (r *router) generation(i int) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.gens[i]
}

// removeIf removes node i unless it was added again since generation gen.
func (r *router) removeIf(i, gen int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gens[i] == gen {
		delete(r.addrs, i)
	}
}

func (r *router) remove(i int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.addrs, i)
}

// pick returns a random routable node other than avoid (when there is
// another), or -1 when none is routable.
func (r *router) pick(avoid int) (int, string) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.addrs) == 0 {
		return -1, ""
	}
	ids := make([]int, 0, len(r.addrs))
	for i := range r.addrs {
		if i != avoid || len(r.addrs) == 1 {
			ids = append(ids, i)
		}
	}
	i := ids[rand.IntN(len(ids))]
	return i, r.addrs[i]
}

// pickN returns up to n distinct routable nodes in random order, repeating
// when fewer are routable.
func (r *router) pickN(n int) []int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ids := make([]int, 0, len(r.addrs))
	for i := range r.addrs {
		ids = append(ids, i)
	}
	rand.Shuffle(len(ids), func(a, b int) { ids[a], ids[b] = ids[b], ids[a] })
	out := make([]int, n)
	for k := range out {
		if len(ids) == 0 {
			out[k] = -1
		} else {
			out[k] = ids[k%len(ids)]
		}
	}
	return out
}

func (r *router) addr(i int) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.addrs[i]
	return a, ok
}

// recorder collects the history, safe for concurrent use.
type recorder struct {
	mu  sync.Mutex
	ops []*oracle.Op
	seq atomic.Int64
}

func (h *recorder) add(op *oracle.Op) {
	h.mu.Lock()
	defer h.mu.Unlock()
	op.ID = len(h.ops) + 1
	h.ops = append(h.ops, op)
}

func (h *recorder) all() []*oracle.Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*oracle.Op(nil), h.ops...)
}

// client sends one logical operation through the routable nodes with
// retries: the same Idempotency-Key on every attempt of a write; transport
// errors, 5xx, 429 and 409 idempotency_in_progress retried with jittered
// exponential back-off on another node, until OpTimeout.
type client struct {
	run     string // makes Idempotency-Keys unique to the run
	router  *router
	hist    *recorder
	hc      *http.Client
	timeout time.Duration // per operation, across retries
}

func newClient(run string, r *router, h *recorder, opTimeout time.Duration) *client {
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	return &client{run: run, router: r, hist: h, timeout: opTimeout,
		hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// user is a signed-in principal.
type user struct {
	id, role, token string
}

// orderJSON is the part of an order answer the harness reads.
type orderJSON struct {
	ID       string  `json:"id"`
	Status   string  `json:"status"`
	DriverID *string `json:"driver_id"`
	Version  int64   `json:"version"`
}

func (o orderJSON) view() *oracle.View {
	v := &oracle.View{Status: o.Status, Version: o.Version}
	if o.DriverID != nil {
		v.Driver = *o.DriverID
	}
	return v
}

// commandID is the id the node derives from a key (transport/httpapi
// middleware.go): the journal stores it with the command's event.
func commandID(userID, key string) string {
	sum := sha256.Sum256([]byte(userID + "\x00" + key))
	return "idem-" + hex.EncodeToString(sum[:16])
}

// createdOrderID is the id a keyed create gets (transport/httpapi orders.go),
// known before the answer: an unanswered create can still be found.
func createdOrderID(cmdID string) string {
	var u ulid.ULID
	copy(u[:], []byte(cmdID[len(cmdID)-16:]))
	u[0] &= 0x7
	return "ord_" + u.String()
}

// do performs op (Kind, Order, By, Role and the command fields set) as
// method path with body, records it and returns it.
func (c *client) do(ctx context.Context, worker int, u user, op *oracle.Op, method, path string, body any) *oracle.Op {
	op.Client, op.By, op.Role, op.Node = worker, u.id, u.role, -1
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	var key string
	if op.IsWrite() {
		key = fmt.Sprintf("chaos-%s-%d", c.run, c.hist.seq.Add(1))
		op.CommandID = commandID(u.id, key)
		if op.Kind == oracle.Create {
			op.Order = createdOrderID(op.CommandID)
		}
	}
	op.Invoke = time.Now().UnixNano()
	deadline := time.Now().Add(c.timeout)
	node := -1
	for attempt := 0; ; attempt++ {
		op.Attempts = attempt + 1
		var addr string
		node, addr = c.router.pick(node)
		if node < 0 {
			op.Err = "no routable node"
		} else {
			status, code, ans, err := c.send(ctx, method, addr, path, u.token, key, raw)
			op.Node = node
			switch {
			case err != nil:
				op.HTTP, op.Code, op.Err = 0, "", err.Error()
			case retryable(status, code):
				op.HTTP, op.Code, op.Err = status, code, fmt.Sprintf("%d %s", status, code)
			default:
				op.HTTP, op.Code, op.Err = status, code, ""
				if status/100 == 2 {
					var o orderJSON
					if err := json.Unmarshal(ans, &o); err != nil {
						op.Err = "decode answer: " + err.Error()
					} else {
						op.Result = o.view()
						if op.Kind == oracle.Create && o.ID != op.Order {
							op.Err = fmt.Sprintf("created %s, expected %s", o.ID, op.Order)
						}
					}
				}
				op.Return = time.Now().UnixNano()
				c.hist.add(op)
				return op
			}
		}
		op.Failures++
		pause := retryPause(attempt)
		if ctx.Err() != nil || time.Now().Add(pause).After(deadline) {
			op.Return = time.Now().UnixNano()
			c.hist.add(op)
			return op
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
}

// retryable: the answers that say "ask again", not "no".
func retryable(status int, code string) bool {
	return status >= 500 || status == http.StatusTooManyRequests ||
		(status == http.StatusConflict && code == "idempotency_in_progress")
}

// retryPause is exponential with jitter: drawn from the top three quarters
// of min(1 s, 50 ms × 2^attempt), so a retry never comes right back.
func retryPause(attempt int) time.Duration {
	ceil := backoff.Ceiling(attempt, 50*time.Millisecond, time.Second)
	return backoff.Uniform(ceil/4, ceil-1)
}

// send is one attempt through the node at addr: the status, the problem
// code of a non-2xx answer and the body. The attempt is not cut short by
// ctx: an answer that arrives is recorded.
func (c *client) send(ctx context.Context, method, addr, path, token, key string, body []byte) (int, string, []byte, error) {
	var payload any
	if body != nil {
		payload = json.RawMessage(body)
	}
	api := &fleet.Client{Base: "http://" + addr, HTTP: c.hc}
	r, err := api.DoKey(context.WithoutCancel(ctx), method, path, token, key, payload)
	if err != nil {
		return 0, "", nil, err
	}
	var code string
	if r.Status/100 != 2 {
		var p struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(r.Body, &p)
		code = p.Code
	}
	return r.Status, code, r.Body, nil
}

// plain sends a setup request (not part of the judged history) with
// retries and requires want.
func (c *client) plain(ctx context.Context, method, path, token string, body, out any, want int) error {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	key := ""
	if method != http.MethodGet && token != "" {
		key = fmt.Sprintf("chaos-%s-setup-%d", c.run, c.hist.seq.Add(1))
	}
	node := -1
	var last error
	for attempt := range 12 {
		var addr string
		node, addr = c.router.pick(node)
		if node < 0 {
			return errors.New("no routable node")
		}
		status, code, b, err := c.send(ctx, method, addr, path, token, key, raw)
		switch {
		case err != nil:
			last = err
		case retryable(status, code):
			last = fmt.Errorf("%s %s: %d %s", method, path, status, b)
		case status != want:
			return fmt.Errorf("%s %s: want %d, got %d %s", method, path, want, status, b)
		default:
			if out != nil {
				return json.Unmarshal(b, out)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retryPause(attempt)):
		}
	}
	return last
}
