// Package webhooktest is a webhook receiver for tests: an HTTP server that
// verifies every delivery's signature, as an integrator's would, and
// counts deliveries per event id.
package webhooktest

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/outrider/outrider/worker/webhook"
)

// Receiver is a verifying webhook endpoint on loopback.
type Receiver struct {
	URL string

	mu     sync.Mutex
	secret string
	fail   bool
	events map[string]int // event id → accepted deliveries
	bad    int            // deliveries that did not verify
}

// Start serves a Receiver until t ends. Until SetSecret is called every
// delivery counts as bad.
func Start(t testing.TB) *Receiver {
	r := &Receiver{events: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// SetSecret sets the endpoint's signing secret; fail makes it answer 503
// to deliveries that verify.
func (r *Receiver) SetSecret(secret string, fail bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret, r.fail = secret, fail
}

// Delivered returns the accepted deliveries per event id, and how many
// deliveries did not verify (signature, timestamp, or a body id other
// than the Outrider-Event-Id header).
func (r *Receiver) Delivered() (map[string]int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.events), r.bad
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	var ev struct{ ID string }
	if r.secret == "" ||
		webhook.Verify([]byte(r.secret), req.Header.Get(webhook.HeaderSignature), body, time.Now(), webhook.DefaultTolerance) != nil ||
		json.Unmarshal(body, &ev) != nil || ev.ID != req.Header.Get(webhook.HeaderEventID) {
		r.bad++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.fail {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.events[ev.ID]++
	w.WriteHeader(http.StatusNoContent)
}
