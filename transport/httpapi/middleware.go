package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/problem"
)

// policy says who may call a route: public routes need no token; the
// others need a valid access token whose role is in roles.
type policy struct {
	public bool
	roles  []string
	// authLimited routes (signup, login, refresh) also pass the stricter
	// per-IP limiter.
	authLimited bool
	// queryToken routes also accept the access token as ?access_token=.
	queryToken bool
}

var (
	public    = policy{public: true}
	anyUser   = policy{roles: []string{"customer", "driver", "admin"}}
	adminOnly = policy{roles: []string{"admin"}}
)

func roles(r ...string) policy { return policy{roles: r} }

// call is what a handler gets besides the request.
type call struct {
	principal Principal
	params    httprouter.Params
	// commandID identifies the command this request issues; it is derived
	// from the Idempotency-Key when one is sent, so a retried request
	// repeats the same command and the actor applies it once.
	commandID string
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, c *call) error

// routeInfo is kept for the RBAC test: every route has a policy.
type routeInfo struct {
	Method, Path string
	Policy       policy
}

// handle registers h on method+path behind the route's middleware chain:
// metrics, authentication, role check, rate limit, idempotency.
func (s *Server) handle(method, path string, pol policy, h handlerFunc) {
	s.routeTable = append(s.routeTable, routeInfo{method, path, pol})
	s.router.Handle(method, path, s.chain(method, path, pol, h))
}

// handleLiteral registers a route whose path httprouter cannot hold
// beside a parameter route (GET /v1/drivers/nearby beside
// /v1/drivers/:id): the parameter route's handler hands it every request
// for exactly this path, and it runs its own chain with its own policy.
func (s *Server) handleLiteral(method, path string, pol policy, h handlerFunc) {
	s.routeTable = append(s.routeTable, routeInfo{method, path, pol})
	if s.literals == nil {
		s.literals = map[string]httprouter.Handle{}
	}
	s.literals[method+" "+path] = s.chain(method, path, pol, h)
}

// chain is the middleware chain of one route.
func (s *Server) chain(method, path string, pol policy, h handlerFunc) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		if lit, ok := s.literals[method+" "+r.URL.Path]; ok && r.URL.Path != path {
			lit(w, r, ps)
			return
		}
		start := time.Now()
		if ai := accessOf(r); ai != nil {
			ai.route = path
			ai.quiet = pol.public && isOpsRoute(path)
		}
		var span trace.Span
		if !isOpsRoute(path) {
			r, span = startSpan(r, method, path)
		}
		sw := &statusWriter{ResponseWriter: w}
		err := s.serve(sw, r, ps, pol, h)
		if err != nil {
			s.writeError(sw, r, err)
		}
		status := sw.status()
		if status >= 500 && errors.Is(r.Context().Err(), context.Canceled) {
			// The client gave up (closed the connection) and the answer
			// failed for it: not the node's failure, so not a 5xx in the
			// metrics (issue #14, finding 9).
			status = StatusClientClosed
		}
		s.metrics.observe(method, path, status, time.Since(start))
		if span != nil {
			endSpan(span, status)
		}
	}
}

// isOpsRoute reports whether path is one of the routes probes and
// scrapers call every few seconds, which the access log keeps at debug.
func isOpsRoute(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics"
}

// StatusClientClosed is the status label of outrider_http_requests_total
// for requests the client cancelled before they were answered (nginx's
// 499): counted apart from the node's own failures.
const StatusClientClosed = 499

func (s *Server) serve(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pol policy, h handlerFunc) error {
	c := &call{params: ps}
	ip := s.clientIP(r)
	if pol.authLimited {
		if err := s.authLim.allow("ip:" + ip); err != nil {
			return err
		}
	}
	if !pol.public {
		p, err := s.authenticate(r, pol.queryToken)
		if err != nil {
			return err
		}
		if !slices.Contains(pol.roles, p.Role) {
			return errorf(problem.Forbidden, "the %s role may not call this route", p.Role)
		}
		c.principal = p
		if ai := accessOf(r); ai != nil {
			ai.userID = p.UserID
		}
		if err := s.limiter.allow("user:" + p.UserID); err != nil {
			return err
		}
	} else if err := s.limiter.allow("ip:" + ip); err != nil {
		return err
	}
	if err := checkQueryText(r.URL.Query()); err != nil {
		return err
	}
	// Idempotency-Key applies to authenticated writes only (POST, PUT,
	// PATCH, DELETE; DESIGN.md §3): the public ones (signup, login,
	// refresh) answer with tokens, which must never be stored, and
	// anonymous callers share no scope.
	if key := r.Header.Get("Idempotency-Key"); key != "" && !pol.public && isWrite(r.Method) {
		return s.idempotent(w, r, c, key, h)
	}
	c.commandID = ulid.Make().String()
	return h(w, r, c)
}

// isWrite reports whether method is one of the writes Idempotency-Key
// applies to.
func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

func (s *Server) authenticate(r *http.Request, queryToken bool) (Principal, error) {
	h := r.Header.Get("Authorization")
	var raw string
	if t := r.URL.Query().Get("access_token"); h == "" && queryToken && t != "" {
		raw = t
	} else {
		scheme, token, ok := strings.Cut(h, " ")
		if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			return Principal{}, errorf(problem.Unauthorized, "send an access token as Authorization: Bearer <token>")
		}
		raw = strings.TrimSpace(token)
	}
	p, err := s.tokens.verify(raw)
	if err != nil {
		return p, err
	}
	if s.revoked != nil && s.revoked.refuses(p.UserID, p.IssuedAt) {
		return Principal{}, errorf(problem.Unauthorized, "this access token was revoked (logout or a reused refresh token); log in again")
	}
	return p, nil
}

// idempotent replays the stored answer of a repeated (key, body), refuses
// the key with another body, and stores the answer of a new request.
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, c *call, key string, h handlerFunc) error {
	if len(key) > 255 || strings.IndexFunc(key, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
		// Visible ASCII only: the key is stored as text, and Postgres
		// refuses bytes that are not UTF-8.
		return invalid(problem.FieldError{Field: "Idempotency-Key", Message: "must be 1 to 255 visible ASCII characters"})
	}
	body, err := readLimited(r, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	scope := "anon"
	if c.principal.UserID != "" {
		scope = c.principal.UserID
	}
	sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"\n"), body...))
	reqHash := hex.EncodeToString(sum[:])
	keySum := sha256.Sum256([]byte(scope + "\x00" + key))
	c.commandID = "idem-" + hex.EncodeToString(keySum[:16])

	stored, err := s.store.BeginIdempotent(r.Context(), scope, key, reqHash, s.nodeID(), s.now())
	switch {
	case errors.Is(err, persistence.ErrIdempotencyMismatch):
		return errorf(problem.IdempotencyKeyReused, "this Idempotency-Key was used with another request")
	case errors.Is(err, persistence.ErrIdempotencyInProgress):
		return newError(problem.IdempotencyInProgress, "the first request with this Idempotency-Key is still running").retryAfter(1)
	case err != nil:
		return newError(problem.Unavailable, "could not record the idempotency key").retryAfter(1).because(err)
	case stored != nil:
		for k, v := range stored.Header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(stored.Status)
		_, _ = w.Write(stored.Body)
		return nil
	}

	rec := &recorder{ResponseWriter: w}
	r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, body))
	if herr := h(rec, r, c); herr != nil {
		s.writeError(rec, r, herr)
	}
	ctx := context.WithoutCancel(r.Context())
	if rec.code >= 500 || rec.code == http.StatusTooManyRequests {
		if err := s.store.ReleaseIdempotent(ctx, scope, key); err != nil {
			s.log.Warn("release idempotency key", "err", err)
		}
		return nil
	}
	hdr := map[string]string{}
	for _, k := range []string{"Content-Type", "Location"} {
		if v := rec.Header().Get(k); v != "" {
			hdr[k] = v
		}
	}
	if err := s.store.CompleteIdempotent(ctx, scope, key, persistence.IdempotentResponse{
		Status: rec.code, Header: hdr, Body: rec.body.Bytes(),
	}); err != nil {
		s.log.Warn("store idempotent response", "err", err)
	}
	return nil
}

// recorder passes a response through and keeps a copy.
type recorder struct {
	http.ResponseWriter
	code int
	body bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Hijack lets the WebSocket upgrade take over the connection.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the response writer cannot be hijacked")
	}
	if w.code == 0 {
		w.code = http.StatusSwitchingProtocols
	}
	return h.Hijack()
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// cors answers preflights and sets CORS headers for allow-listed origins
// only; other origins get no CORS headers, so browsers refuse them. A
// preflight allows every method a route is registered with (so a new
// PATCH route is allowed without a second list to keep), which is why
// cors wraps the router after the routes are registered.
func (s *Server) cors(next http.Handler) http.Handler {
	allowAll := slices.Contains(s.cfg.CORSOrigins, "*")
	methods := []string{http.MethodOptions}
	for _, rt := range s.routeTable {
		if !slices.Contains(methods, rt.Method) {
			methods = append(methods, rt.Method)
		}
	}
	slices.Sort(methods)
	allowMethods := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && (allowAll || slices.Contains(s.cfg.CORSOrigins, origin)) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Expose-Headers", "Location, Retry-After, Idempotent-Replayed, X-Request-Id")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", allowMethods)
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Idempotency-Key")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// rateLimiter keeps a token bucket per client key, remembering at most
// max keys (the least recently seen are dropped).
type rateLimiter struct {
	mu      sync.Mutex
	perSec  rate.Limit
	burst   int
	max     int
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newRateLimiter(perSec float64, burst, max int, now func() time.Time) *rateLimiter {
	return &rateLimiter{perSec: rate.Limit(perSec), burst: burst, max: max, now: now, buckets: map[string]*bucket{}}
}

func (l *rateLimiter) allow(key string) error {
	now := l.now()
	l.mu.Lock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.max {
			l.evict()
		}
		b = &bucket{lim: rate.NewLimiter(l.perSec, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	res := b.lim.ReserveN(now, 1)
	delay := res.DelayFrom(now)
	if delay > 0 {
		res.CancelAt(now)
	}
	l.mu.Unlock()
	if delay > 0 {
		secs := int(math.Ceil(delay.Seconds()))
		return newError(problem.RateLimited, "slow down: retry after "+strconv.Itoa(secs)+"s").retryAfter(max(secs, 1))
	}
	return nil
}

// evict drops the oldest tenth of the buckets; called with mu held.
func (l *rateLimiter) evict() {
	type kv struct {
		k string
		t time.Time
	}
	all := make([]kv, 0, len(l.buckets))
	for k, b := range l.buckets {
		all = append(all, kv{k, b.seen})
	}
	slices.SortFunc(all, func(a, b kv) int { return a.t.Compare(b.t) })
	for _, e := range all[:max(1, len(all)/10)] {
		delete(l.buckets, e.k)
	}
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outrider_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "outrider_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

func (m *httpMetrics) observe(method, route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}
