package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/transport/httpapi/openapitest"
)

// tb is what the helpers need of a test: *testing.T, or a goT in a
// goroutine of a test.
type tb interface {
	require.TestingT
	Helper()
	Context() context.Context
}

// goT collects the failures of helpers called on a goroutine other than
// the test's: FailNow ends only that goroutine. Check err() after.
type goT struct {
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

func newGoT(t *testing.T) *goT { return &goT{ctx: t.Context()} }

func (g *goT) Helper()                  {}
func (g *goT) Context() context.Context { return g.ctx }
func (g *goT) FailNow()                 { runtime.Goexit() }
func (g *goT) Errorf(format string, args ...any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.errs = append(g.errs, fmt.Sprintf(format, args...))
}

func (g *goT) failures() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.errs)
}

// The OpenAPI validator is built once per package: parsing and checking
// the document takes a while, and the Validator is safe for concurrent use.
var (
	specOnce sync.Once
	specV    *openapitest.Validator
	specErr  error
)

func specValidator(t tb) *openapitest.Validator {
	t.Helper()
	specOnce.Do(func() { specV, specErr = openapitest.NewValidator() })
	require.NoError(t, specErr, "build the OpenAPI validator")
	return specV
}

// bundle is one running node and what tests need to poke at it: its base
// URL, an HTTP client, and the bootstrap admin, logged in.
type bundle struct {
	node  *app.Node
	base  string
	hc    *http.Client
	admin *caller
}

// setup starts a node (mutate adjusts its configuration) shared by the
// subtests of one top-level test. Top-level tests that call it must not
// be parallel: Proto.Actor's remote cannot start twice concurrently.
func setup(t *testing.T, mutate func(*app.Config)) *bundle {
	t.Helper()
	specValidator(t)
	n := e2e.Start(t, mutate)
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	b := &bundle{
		node: n,
		base: "http://" + n.Addr(),
		hc:   &http.Client{Timeout: 20 * time.Second, Transport: tr},
	}
	t.Cleanup(tr.CloseIdleConnections)
	b.admin = b.login(t, e2e.AdminEmail, e2e.AdminPassword)
	require.Equal(t, "admin", b.admin.User.Role)
	return b
}

// caller is one client of the API: anonymous (no token) or a user.
type caller struct {
	b       *bundle
	Token   string
	Refresh string
	User    userJSON
	// Password the user signed up with (empty for anonymous callers).
	Password string
	// Header is sent with every request of this caller (X-Forwarded-For).
	Header http.Header
}

func (b *bundle) anon() *caller { return &caller{b: b, Header: http.Header{}} }

// with returns a copy of c that also sends header k: v on every request.
func (c *caller) with(k, v string) *caller {
	cp := *c
	cp.Header = c.Header.Clone()
	if cp.Header == nil {
		cp.Header = http.Header{}
	}
	cp.Header.Set(k, v)
	return &cp
}

// withToken returns a copy of c that authenticates with token.
func (c *caller) withToken(token string) *caller {
	cp := *c
	cp.Token = token
	return &cp
}

type userJSON struct {
	ID        string  `json:"id"`
	Email     string  `json:"email"`
	Name      string  `json:"name"`
	Phone     *string `json:"phone"`
	Role      string  `json:"role"`
	CreatedAt string  `json:"created_at"`
}

type tokensJSON struct {
	User         userJSON `json:"user"`
	AccessToken  string   `json:"access_token"`
	RefreshToken string   `json:"refresh_token"`
	TokenType    string   `json:"token_type"`
	ExpiresIn    int      `json:"expires_in"`
}

type placeJSON struct {
	Address string   `json:"address"`
	Lat     *float64 `json:"lat,omitempty"`
	Lng     *float64 `json:"lng,omitempty"`
}

type orderJSON struct {
	ID             string    `json:"id"`
	CustomerID     string    `json:"customer_id"`
	DriverID       *string   `json:"driver_id"`
	Pickup         placeJSON `json:"pickup"`
	Dropoff        placeJSON `json:"dropoff"`
	DeliveryOption string    `json:"delivery_option"`
	ScheduledFor   *string   `json:"scheduled_for"`
	PaymentStatus  string    `json:"payment_status"`
	Status         string    `json:"status"`
	Notes          string    `json:"notes"`
	Version        int64     `json:"version"`
	CreatedAt      string    `json:"created_at"`
	UpdatedAt      string    `json:"updated_at"`
}

func (o orderJSON) driver() string {
	if o.DriverID == nil {
		return ""
	}
	return *o.DriverID
}

type orderPage struct {
	Items      []orderJSON `json:"items"`
	NextCursor *string     `json:"next_cursor"`
}

type timelineJSON struct {
	Items []struct {
		Seq    int64  `json:"seq"`
		Status string `json:"status"`
		By     struct {
			UserID *string `json:"user_id"`
			Role   string  `json:"role"`
		} `json:"by"`
		Metadata map[string]any `json:"metadata"`
		At       string         `json:"at"`
	} `json:"items"`
}

type driverJSON struct {
	ID           string  `json:"id"`
	Name         string  `json:"name"`
	Email        string  `json:"email"`
	Status       string  `json:"status"`
	Available    bool    `json:"available"`
	Capacity     int     `json:"capacity"`
	ActiveOrders int     `json:"active_orders"`
	LastLocation any     `json:"last_location"`
	Phone        *string `json:"phone"`
	UpdatedAt    string  `json:"updated_at"`
}

type problemJSON struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Code     string `json:"code"`
	Instance string `json:"instance"`
	Errors   []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

func (p problemJSON) fields() []string {
	out := make([]string, 0, len(p.Errors))
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}

// raw is a request body sent exactly as given (not JSON-encoded).
type raw string

// reqConf collects a request's options.
type reqConf struct {
	header       http.Header
	validateReq  bool
	validateResp bool
	chunked      bool
}

type reqOpt func(*reqConf)

// hdr sets a request header; an empty value removes it (e.g. the default
// Content-Type).
func hdr(k, v string) reqOpt {
	return func(c *reqConf) {
		if v == "" {
			c.header.Del(k)
			c.header[http.CanonicalHeaderKey(k)] = nil
			return
		}
		c.header.Set(k, v)
	}
}

// invalidReq marks a request that deliberately breaks the document: only
// the response is validated.
func invalidReq() reqOpt { return func(c *reqConf) { c.validateReq = false } }

// offSpec marks a request to a route or method the document does not
// have (unknown route, wrong method): neither side can be validated
// against it, the caller checks the problem body itself.
func offSpec() reqOpt {
	return func(c *reqConf) { c.validateReq, c.validateResp = false, false }
}

// chunked sends the body without Content-Length.
func chunked() reqOpt { return func(c *reqConf) { c.chunked = true } }

// response is what the server answered.
type response struct {
	Status int
	Header http.Header
	Body   []byte
	req    string // "METHOD path", for messages
}

func (r *response) String() string {
	return fmt.Sprintf("%s → %d %s", r.req, r.Status, bytes.TrimSpace(r.Body))
}

// do sends one request and validates both the request and the response
// against the OpenAPI document (unless told otherwise by opts). body is
// nil (no body), a raw string (sent as is) or a value to JSON-encode.
func (c *caller) do(t tb, method, path string, body any, opts ...reqOpt) *response {
	t.Helper()
	conf := reqConf{header: http.Header{}, validateReq: true, validateResp: true}
	var payload []byte
	if body != nil {
		switch v := body.(type) {
		case raw:
			payload = []byte(v)
		case []byte:
			payload = v
		default:
			var err error
			payload, err = json.Marshal(v)
			require.NoError(t, err)
		}
		conf.header.Set("Content-Type", "application/json")
	}
	for k, vs := range c.Header {
		conf.header[k] = vs
	}
	if c.Token != "" {
		conf.header.Set("Authorization", "Bearer "+c.Token)
	}
	for _, o := range opts {
		o(&conf)
	}
	newReq := func() *http.Request {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(payload)
			if conf.chunked {
				rd = io.MultiReader(rd) // hides the length: chunked encoding
			}
		}
		req, err := http.NewRequestWithContext(t.Context(), method, c.b.base+path, rd)
		require.NoError(t, err)
		for k, vs := range conf.header {
			if vs != nil {
				req.Header[k] = vs
			}
		}
		return req
	}
	req := newReq()
	if conf.validateReq {
		require.NoError(t, specValidator(t).ValidateRequest(newReq()),
			"request %s %s %s does not conform to the OpenAPI document", method, path, payload)
	}
	resp, err := c.b.hc.Do(req)
	require.NoError(t, err, "%s %s", method, path)
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// An upgraded connection (WebSocket): no body to read; closing
		// the body closes the connection.
		out := &response{Status: resp.StatusCode, Header: resp.Header, req: method + " " + path}
		if conf.validateResp {
			require.NoError(t, specValidator(t).ValidateResponse(newReq(), resp.StatusCode, resp.Header, nil),
				"response does not conform to the OpenAPI document: %s", out)
		}
		return out
	}
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := &response{Status: resp.StatusCode, Header: resp.Header, Body: got, req: method + " " + path}
	if conf.validateResp {
		require.NoError(t, specValidator(t).ValidateResponse(newReq(), resp.StatusCode, resp.Header, got),
			"response does not conform to the OpenAPI document: %s", out)
	}
	if resp.StatusCode >= 400 {
		// Every error, documented route or not, is problem+json.
		requireProblemShape(t, out)
	}
	return out
}

func (c *caller) get(t tb, path string, opts ...reqOpt) *response {
	t.Helper()
	return c.do(t, http.MethodGet, path, nil, opts...)
}

func (c *caller) post(t tb, path string, body any, opts ...reqOpt) *response {
	t.Helper()
	return c.do(t, http.MethodPost, path, body, opts...)
}

func (c *caller) put(t tb, path string, body any, opts ...reqOpt) *response {
	t.Helper()
	return c.do(t, http.MethodPut, path, body, opts...)
}

func requireProblemShape(t tb, r *response) {
	t.Helper()
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	require.NoError(t, err, "%s", r)
	require.Equal(t, "application/problem+json", mt, "%s", r)
	var p problemJSON
	require.NoError(t, json.Unmarshal(r.Body, &p), "%s", r)
	require.Equal(t, r.Status, p.Status, "%s", r)
	require.NotEmpty(t, p.Code, "%s", r)
	require.Equal(t, "https://outrider.dev/problems/"+p.Code, p.Type, "%s", r)
	require.NotEmpty(t, p.Title, "%s", r)
}

// requireStatus fails the test unless the response has status want.
func (r *response) requireStatus(t tb, want int) *response {
	t.Helper()
	require.Equal(t, want, r.Status, "%s", r)
	return r
}

// decode requires status want and decodes the JSON body into v.
func (r *response) decode(t tb, want int, v any) {
	t.Helper()
	r.requireStatus(t, want)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	require.Equal(t, "application/json", mt, "%s", r)
	require.NoError(t, json.Unmarshal(r.Body, v), "%s", r)
}

// problem requires a problem+json answer with status and code.
func (r *response) problem(t tb, status int, code string) problemJSON {
	t.Helper()
	require.Equal(t, status, r.Status, "%s", r)
	var p problemJSON
	require.NoError(t, json.Unmarshal(r.Body, &p), "%s", r)
	require.Equal(t, code, p.Code, "%s", r)
	return p
}

var seq atomic.Int64

// unique returns a string unique within the test binary's run.
func unique(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), seq.Add(1))
}

func uniqueEmail(prefix string) string { return unique(prefix) + "@example.test" }

func (b *bundle) login(t tb, email, password string) *caller {
	t.Helper()
	var tok tokensJSON
	b.anon().post(t, "/v1/auth/login", map[string]string{"email": email, "password": password}).
		decode(t, http.StatusOK, &tok)
	return b.fromTokens(tok, password)
}

func (b *bundle) fromTokens(tok tokensJSON, password string) *caller {
	return &caller{b: b, Token: tok.AccessToken, Refresh: tok.RefreshToken, User: tok.User,
		Password: password, Header: http.Header{}}
}

// signup creates a customer through POST /v1/auth/signup.
func (b *bundle) signup(t tb) *caller {
	t.Helper()
	return b.signupAs(t, b.anon())
}

// signupAs signs a customer up with c's headers (e.g. X-Forwarded-For).
func (b *bundle) signupAs(t tb, c *caller) *caller {
	t.Helper()
	pw := "password-" + unique("pw")
	email := uniqueEmail("customer")
	r := c.post(t, "/v1/auth/signup", map[string]string{"name": "Customer " + email, "email": email, "password": pw})
	var tok tokensJSON
	r.decode(t, http.StatusCreated, &tok)
	require.Equal(t, "/v1/me", r.Header.Get("Location"))
	require.Equal(t, "customer", tok.User.Role)
	require.Equal(t, email, tok.User.Email)
	require.Equal(t, "Bearer", tok.TokenType)
	require.Positive(t, tok.ExpiresIn)
	u := b.fromTokens(tok, pw)
	u.Header = c.Header.Clone()
	return u
}

// createDriver has the admin create a driver (capacity 0: the default),
// logs the driver in, and makes them available unless offline is set.
func (b *bundle) createDriver(t tb, capacity int, available bool) *caller {
	t.Helper()
	pw := "driver-" + unique("pw")
	email := uniqueEmail("driver")
	req := map[string]any{"name": "Driver " + email, "email": email, "password": pw, "role": "driver"}
	if capacity > 0 {
		req["capacity"] = capacity
	}
	r := b.admin.post(t, "/v1/users", req)
	var u userJSON
	r.decode(t, http.StatusCreated, &u)
	require.Equal(t, "driver", u.Role)
	require.Equal(t, "/v1/drivers/"+u.ID, r.Header.Get("Location"))
	d := b.login(t, email, pw)
	require.Equal(t, u.ID, d.User.ID)
	if available {
		var dj driverJSON
		d.put(t, "/v1/drivers/me/availability", map[string]bool{"available": true}).decode(t, http.StatusOK, &dj)
		require.True(t, dj.Available)
		require.Equal(t, "available", dj.Status)
	}
	return d
}

// validOrder is a valid create-order request.
func validOrder() map[string]any {
	return map[string]any{
		"pickup":          map[string]any{"address": "Alexanderplatz 1, Berlin", "lat": 52.5219, "lng": 13.4132},
		"dropoff":         map[string]any{"address": "Unter den Linden 5, Berlin"},
		"delivery_option": "standard",
		"notes":           "ring twice",
	}
}

// createOrder places an order as c (a customer or an admin).
func (c *caller) createOrder(t tb) orderJSON {
	t.Helper()
	r := c.post(t, "/v1/orders", validOrder())
	var o orderJSON
	r.decode(t, http.StatusCreated, &o)
	require.Equal(t, "/v1/orders/"+o.ID, r.Header.Get("Location"))
	require.Equal(t, "pending", o.Status)
	require.EqualValues(t, 1, o.Version)
	require.Nil(t, o.DriverID)
	return o
}

func (c *caller) order(t tb, id string) orderJSON {
	t.Helper()
	var o orderJSON
	c.get(t, "/v1/orders/"+id).decode(t, http.StatusOK, &o)
	return o
}

func (c *caller) driverRecord(t tb, id string) driverJSON {
	t.Helper()
	var d driverJSON
	c.get(t, "/v1/drivers/"+id).decode(t, http.StatusOK, &d)
	return d
}

// orderAction posts to /v1/orders/{id}/{action} and decodes the order.
func (c *caller) orderAction(t tb, id, action string, body any) orderJSON {
	t.Helper()
	var o orderJSON
	c.post(t, "/v1/orders/"+id+"/"+action, body).decode(t, http.StatusOK, &o)
	return o
}

func (c *caller) setStatus(t tb, id, status string) orderJSON {
	t.Helper()
	var o orderJSON
	c.put(t, "/v1/orders/"+id+"/status", map[string]any{"status": status}).decode(t, http.StatusOK, &o)
	require.Equal(t, status, o.Status)
	return o
}

// allOrders pages through GET /v1/orders (query without limit/cursor) and
// returns every order, checking the pages do not overlap.
func (c *caller) allOrders(t tb, query string, limit int) []orderJSON {
	t.Helper()
	var all []orderJSON
	seen := map[string]bool{}
	cursor := ""
	for range 1000 {
		q := fmt.Sprintf("/v1/orders?limit=%d", limit)
		if query != "" {
			q += "&" + query
		}
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		var p orderPage
		c.get(t, q).decode(t, http.StatusOK, &p)
		require.LessOrEqual(t, len(p.Items), limit)
		for _, o := range p.Items {
			require.False(t, seen[o.ID], "order %s on two pages", o.ID)
			seen[o.ID] = true
		}
		all = append(all, p.Items...)
		if p.NextCursor == nil {
			return all
		}
		require.Len(t, p.Items, limit, "a page before the last is full")
		cursor = *p.NextCursor
	}
	require.FailNow(t, "paging does not end")
	return nil
}

func ids(orders []orderJSON) []string {
	out := make([]string, len(orders))
	for i, o := range orders {
		out[i] = o.ID
	}
	return out
}

// countOrders is how many orders the admin sees for user (customer or
// driver id).
func (b *bundle) countOrders(t tb, user string) int {
	t.Helper()
	return len(b.admin.allOrders(t, "user="+user, 200))
}

// nonexistentID is a well-formed id that names nothing.
func nonexistentID(prefix string) string {
	return prefix + "_01ARZ3NDEKTSV4RRFFQ69G5FAV"
}

// withoutInstance drops the instance member of a problem body.
func withoutInstance(t tb, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m))
	delete(m, "instance")
	return m
}
