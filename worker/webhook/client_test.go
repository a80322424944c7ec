package webhook_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/worker/webhook"
)

const secret = "whsec_0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"

var body = []byte(`{"id":"order:01JABC:3","type":"order.status_changed","order_id":"01JABC","seq":3,"at":"2026-01-01T12:00:00Z"}`)

// receiver is an httptest server whose behaviour a test swaps at will and
// which counts the requests that reach it.
type receiver struct {
	srv     *httptest.Server
	hits    atomic.Int64
	handler atomic.Pointer[http.HandlerFunc]
}

func newReceiver(t *testing.T, h http.HandlerFunc) *receiver {
	t.Helper()
	r := &receiver{}
	r.set(h)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		(*r.handler.Load())(w, req)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) set(h http.HandlerFunc) { r.handler.Store(&h) }

func (r *receiver) endpoint(id string) webhook.Endpoint {
	return webhook.Endpoint{ID: id, URL: r.srv.URL + "/hooks", Secret: secret}
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// setup builds a Client on cfg and closes its connections when the test ends.
func setup(t *testing.T, cfg webhook.Config) *webhook.Client {
	t.Helper()
	cfg.AllowPrivate = true // the receivers are httptest servers on loopback
	c := webhook.NewClient(cfg)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func delivery(n int) webhook.Delivery {
	return webhook.Delivery{ID: fmt.Sprintf("dlv_%d", n), EventID: "order:01JABC:3", EventType: "order.status_changed", Body: body}
}

func TestDeliverSignsAndSendsHeaders(t *testing.T) {
	t.Parallel()
	type seen struct {
		header http.Header
		body   []byte
		method string
	}
	got := make(chan seen, 1)
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got <- seen{header: r.Header.Clone(), body: b, method: r.Method}
		// A receiver verifies before trusting anything.
		if err := webhook.Verify([]byte(secret), r.Header.Get(webhook.HeaderSignature), b, t0.Add(time.Second), 5*time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	c := setup(t, webhook.Config{Now: func() time.Time { return t0 }})

	a := c.Deliver(t.Context(), rcv.endpoint("ep_1"), delivery(1))
	require.True(t, a.Succeeded(), "%+v", a)
	require.Equal(t, http.StatusNoContent, a.StatusCode)
	require.False(t, a.Retryable)
	require.False(t, a.CircuitOpen)
	require.Equal(t, t0, a.At)

	s := <-got
	require.Equal(t, http.MethodPost, s.method)
	require.Equal(t, body, s.body)
	require.Equal(t, "application/json", s.header.Get("Content-Type"))
	require.Equal(t, "Outrider-Webhooks/1", s.header.Get("User-Agent"))
	require.Equal(t, "order:01JABC:3", s.header.Get("Outrider-Event-Id"))
	require.Equal(t, "order.status_changed", s.header.Get("Outrider-Event-Type"))
	require.Equal(t, "dlv_1", s.header.Get("Outrider-Delivery-Id"))
	sig := s.header.Get("Outrider-Signature")
	require.Equal(t, webhook.Sign([]byte(secret), t0, body), sig)
	// The same header replayed later is refused.
	require.ErrorIs(t, webhook.Verify([]byte(secret), sig, body, t0.Add(time.Hour), 5*time.Minute), webhook.ErrTimestampOutOfRange)
}

func TestDeliverSignsWithBothSecretsDuringRotation(t *testing.T) {
	t.Parallel()
	sigs := make(chan string, 1)
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		sigs <- r.Header.Get(webhook.HeaderSignature)
	})
	c := setup(t, webhook.Config{Now: func() time.Time { return t0 }})
	ep := rcv.endpoint("ep_1")
	ep.PreviousSecret = "whsec_old"

	require.True(t, c.Deliver(t.Context(), ep, delivery(1)).Succeeded())
	sig := <-sigs
	require.Equal(t, 2, strings.Count(sig, "v1="), sig)
	for _, s := range []string{secret, "whsec_old"} {
		require.NoError(t, webhook.Verify([]byte(s), sig, body, t0, time.Minute), s)
	}
	require.ErrorIs(t, webhook.Verify([]byte("whsec_neither"), sig, body, t0, time.Minute), webhook.ErrBadSignature)
}

func TestDeliverStatusPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status     int
		header     map[string]string
		ok         bool
		retryable  bool
		retryAfter time.Duration
	}{
		{status: 200, ok: true},
		{status: 202, ok: true},
		{status: 400, retryable: true},
		{status: 401, retryable: true},
		{status: 404, retryable: true},
		{status: 408, retryable: true},
		{status: 410, retryable: false},
		{status: 429, retryable: true, header: map[string]string{"Retry-After": "7"}, retryAfter: 7 * time.Second},
		{status: 500, retryable: true},
		{status: 503, retryable: true, header: map[string]string{"Retry-After": t0.Add(90 * time.Second).Format(http.TimeFormat)}, retryAfter: 90 * time.Second},
		{status: 503, retryable: true, header: map[string]string{"Retry-After": "99999999999"}, retryAfter: 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status, tt.header), func(t *testing.T) {
			t.Parallel()
			rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				fmt.Fprintf(w, "status %d", tt.status)
			})
			c := setup(t, webhook.Config{Now: func() time.Time { return t0 }})

			a := c.Deliver(t.Context(), rcv.endpoint("ep"), delivery(1))
			require.Equal(t, tt.status, a.StatusCode)
			require.Equal(t, tt.ok, a.Succeeded(), a.Err)
			require.Equal(t, tt.ok, a.Err == "", a.Err)
			require.Equal(t, tt.retryable, a.Retryable)
			require.Equal(t, tt.retryAfter, a.RetryAfter)
			require.Equal(t, fmt.Sprintf("status %d", tt.status), a.ResponseSnippet)
			require.EqualValues(t, 1, rcv.hits.Load())
		})
	}
}

func TestDeliverDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	target := newReceiver(t, status(http.StatusOK))
	for _, code := range []int{301, 302, 307, 308} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.srv.URL, code)
			})
			// A caller's client that would follow redirects is tamed too.
			c := setup(t, webhook.Config{HTTPClient: &http.Client{}})

			a := c.Deliver(t.Context(), rcv.endpoint("ep"), delivery(1))
			require.Equal(t, code, a.StatusCode)
			require.False(t, a.Succeeded())
			require.True(t, a.Retryable)
			require.Contains(t, a.Err, "redirects are not followed")
		})
	}
	t.Cleanup(func() { require.Zero(t, target.hits.Load()) })
}

func TestDeliverTimeoutIsRetryableAndBounded(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	const timeout = 150 * time.Millisecond
	c := setup(t, webhook.Config{Timeout: timeout})

	a := c.Deliver(t.Context(), rcv.endpoint("ep"), delivery(1))
	require.False(t, a.Succeeded())
	require.True(t, a.Retryable)
	require.Zero(t, a.StatusCode)
	require.Contains(t, a.Err, "no response within 150ms")
	require.GreaterOrEqual(t, a.Duration, timeout)
	require.Less(t, a.Duration, timeout+2*time.Second)
}

func TestDeliverConnectionRefusedIsRetryable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	c := setup(t, webhook.Config{})

	a := c.Deliver(t.Context(), webhook.Endpoint{ID: "ep", URL: "http://" + addr, Secret: secret}, delivery(1))
	require.False(t, a.Succeeded())
	require.True(t, a.Retryable)
	require.Zero(t, a.StatusCode)
	require.Contains(t, a.Err, "connect")
}

// countingTransport counts the response body bytes the client reads.
type countingTransport struct {
	base http.Transport
	read atomic.Int64
}

func (ct *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := ct.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &countingBody{ReadCloser: resp.Body, n: &ct.read}
	return resp, nil
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func TestDeliverReadsAtMostMaxResponseBytes(t *testing.T) {
	t.Parallel()
	// The receiver answers 200 and then streams without end: reading the
	// body to its end would never finish.
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := []byte(strings.Repeat("é", 4096)) // 2-byte runes
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	ct := &countingTransport{}
	t.Cleanup(ct.base.CloseIdleConnections)
	const limit = 16 << 10
	c := setup(t, webhook.Config{MaxResponseBytes: limit, Timeout: time.Minute, HTTPClient: &http.Client{Transport: ct}})

	a := c.Deliver(t.Context(), rcv.endpoint("ep"), delivery(1))
	require.True(t, a.Succeeded(), a.Err)
	require.LessOrEqual(t, ct.read.Load(), int64(limit))
	require.Equal(t, strings.Repeat("é", webhook.SnippetBytes/2), a.ResponseSnippet)
	require.Less(t, a.Duration, 30*time.Second)
}

func TestDeliverRefusesWhatCannotBeSent(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, status(http.StatusOK))
	good := rcv.endpoint("ep")
	tests := []struct {
		name string
		ep   func(*webhook.Endpoint)
		d    func(*webhook.Delivery)
	}{
		{name: "no endpoint id", ep: func(e *webhook.Endpoint) { e.ID = "" }},
		{name: "relative url", ep: func(e *webhook.Endpoint) { e.URL = "/hooks" }},
		{name: "ftp url", ep: func(e *webhook.Endpoint) { e.URL = "ftp://example.com/x" }},
		{name: "no secret", ep: func(e *webhook.Endpoint) { e.Secret = "" }},
		{name: "no event id", d: func(d *webhook.Delivery) { d.EventID = "" }},
		{name: "newline in event type", d: func(d *webhook.Delivery) { d.EventType = "a\r\nX-Evil: 1" }},
		{name: "body not json", d: func(d *webhook.Delivery) { d.Body = []byte("{") }},
	}
	c := setup(t, webhook.Config{})
	for _, tt := range tests {
		ep, d := good, delivery(1)
		if tt.ep != nil {
			tt.ep(&ep)
		}
		if tt.d != nil {
			tt.d(&d)
		}
		a := c.Deliver(t.Context(), ep, d)
		require.False(t, a.Succeeded(), tt.name)
		require.False(t, a.Retryable, tt.name)
		require.NotEmpty(t, a.Err, tt.name)
	}
	require.Zero(t, rcv.hits.Load())
}

func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, 5*time.Second, 10*time.Millisecond, msg)
}

func TestCircuitOpensAndProbes(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, status(http.StatusInternalServerError))
	const failures = 3
	c := setup(t, webhook.Config{BreakerFailures: failures, BreakerCooldown: 100 * time.Millisecond})
	ep := rcv.endpoint("ep_dead")

	for i := range failures {
		a := c.Deliver(t.Context(), ep, delivery(i))
		require.False(t, a.CircuitOpen, "attempt %d", i)
		require.Equal(t, http.StatusInternalServerError, a.StatusCode)
	}
	require.EqualValues(t, failures, rcv.hits.Load())

	// Open: refused at once, nothing sent.
	for i := range 10 {
		a := c.Deliver(t.Context(), ep, delivery(i))
		require.True(t, a.CircuitOpen)
		require.True(t, a.Retryable)
		require.Zero(t, a.StatusCode)
		require.False(t, a.Succeeded())
	}
	require.EqualValues(t, failures, rcv.hits.Load())

	// After the cooldown exactly one probe goes through; it fails and the
	// circuit opens again.
	eventually(t, func() bool { return !c.Deliver(t.Context(), ep, delivery(0)).CircuitOpen }, "no probe after cooldown")
	require.EqualValues(t, failures+1, rcv.hits.Load())
	require.True(t, c.Deliver(t.Context(), ep, delivery(0)).CircuitOpen)
	require.EqualValues(t, failures+1, rcv.hits.Load())

	// The endpoint recovers: the next probe succeeds and closes the circuit.
	rcv.set(status(http.StatusOK))
	eventually(t, func() bool { return c.Deliver(t.Context(), ep, delivery(0)).Succeeded() }, "probe never succeeded")
	for i := range 5 {
		require.True(t, c.Deliver(t.Context(), ep, delivery(i)).Succeeded())
	}
	require.EqualValues(t, failures+2+5, rcv.hits.Load())
}

func TestCircuitIgnoresCallerCancellation(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, status(http.StatusOK))
	c := setup(t, webhook.Config{BreakerFailures: 1})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	a := c.Deliver(ctx, rcv.endpoint("ep"), delivery(1))
	require.False(t, a.Succeeded())
	require.True(t, a.Retryable)
	require.Contains(t, a.Err, "context canceled")
	// One failure would have opened the circuit; a shutdown is not one.
	require.True(t, c.Deliver(t.Context(), rcv.endpoint("ep"), delivery(2)).Succeeded())
}

func TestCircuitIsPerEndpointAndRepointingResetsIt(t *testing.T) {
	t.Parallel()
	dead := newReceiver(t, status(http.StatusBadGateway))
	healthy := newReceiver(t, status(http.StatusOK))
	c := setup(t, webhook.Config{BreakerFailures: 1, BreakerCooldown: time.Hour})

	require.False(t, c.Deliver(t.Context(), dead.endpoint("ep_a"), delivery(1)).Succeeded())
	require.True(t, c.Deliver(t.Context(), dead.endpoint("ep_a"), delivery(2)).CircuitOpen)
	require.True(t, c.Deliver(t.Context(), healthy.endpoint("ep_b"), delivery(3)).Succeeded())
	// The admin fixes ep_a's URL: its history no longer applies.
	fixed := healthy.endpoint("ep_a")
	require.True(t, c.Deliver(t.Context(), fixed, delivery(4)).Succeeded())
}

func TestDeadEndpointDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{}, 16)
	release := make(chan struct{})
	dead := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	var releaseOnce sync.Once
	releaseAll := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseAll)
	healthy := newReceiver(t, status(http.StatusOK))
	const failures = 2
	c := setup(t, webhook.Config{BreakerFailures: failures, BreakerCooldown: time.Hour})

	// 1. While requests to the dead endpoint hang, the healthy one is
	// served: no lock is held across a request.
	var wg sync.WaitGroup
	hung := make([]webhook.Attempt, failures)
	for i := range failures {
		wg.Go(func() { hung[i] = c.Deliver(t.Context(), dead.endpoint("ep_dead"), delivery(i)) })
	}
	for range failures {
		<-entered
	}
	var ok atomic.Int64
	var hwg sync.WaitGroup
	for i := range 20 {
		hwg.Go(func() {
			if c.Deliver(t.Context(), healthy.endpoint("ep_ok"), delivery(i)).Succeeded() {
				ok.Add(1)
			}
		})
	}
	hwg.Wait()
	require.EqualValues(t, 20, ok.Load())
	releaseAll()
	wg.Wait()
	for _, a := range hung {
		require.Equal(t, http.StatusServiceUnavailable, a.StatusCode)
	}

	// 2. With its circuit open, deliveries to the dead endpoint return
	// without a request while the healthy one keeps being served.
	results := make([]webhook.Attempt, 40)
	for i := range results {
		wg.Go(func() {
			ep := healthy.endpoint("ep_ok")
			if i%2 == 0 {
				ep = dead.endpoint("ep_dead")
			}
			results[i] = c.Deliver(t.Context(), ep, delivery(i))
		})
	}
	wg.Wait()
	for i, a := range results {
		if i%2 == 0 {
			require.True(t, a.CircuitOpen, "%d: %+v", i, a)
		} else {
			require.True(t, a.Succeeded(), "%d: %+v", i, a)
		}
	}
	require.EqualValues(t, failures, dead.hits.Load())
	require.EqualValues(t, 20+20, healthy.hits.Load())
}

// TestPrivateAddressesRefused: by default a delivery never dials a
// loopback, private or link-local address, whatever the URL says; the
// refusal is a retryable failure recorded like any other.
func TestPrivateAddressesRefused(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	t.Cleanup(srv.Close)
	c := webhook.NewClient(webhook.Config{Timeout: time.Second})
	t.Cleanup(c.CloseIdleConnections)
	for _, u := range []string{srv.URL, "http://169.254.169.254/latest/meta-data", "http://10.0.0.1:9/x", "http://[::1]:9/x", "http://0.0.0.0:9/x",
		"http://[::7f00:1]:9/x", "http://[64:ff9b::7f00:1]:9/x", "http://[::ffff:127.0.0.1]:9/x"} {
		a := c.Deliver(t.Context(), webhook.Endpoint{ID: "e-" + u, URL: u, Secret: "whsec_x"}, delivery(1))
		require.False(t, a.Succeeded(), u)
		require.Contains(t, a.Err, "not public", u)
	}
	require.Zero(t, hits, "nothing reached the loopback receiver")
}
