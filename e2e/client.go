package e2e

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
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/transport/httpapi/openapitest"
	"github.com/outrider/outrider/wire"
)

// TB is what the kit needs of a test: *testing.T or *testing.B, or a GoT
// on a goroutine of a test.
type TB interface {
	require.TestingT
	Helper()
	Context() context.Context
}

// GoT collects the failures of kit calls made on a goroutine other than
// the test's: FailNow ends only that goroutine. Check Failures after.
type GoT struct {
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

// NewGoT returns a GoT bound to ctx (usually t.Context()).
func NewGoT(ctx context.Context) *GoT { return &GoT{ctx: ctx} }

func (g *GoT) Helper()                  {}
func (g *GoT) Context() context.Context { return g.ctx }
func (g *GoT) FailNow()                 { runtime.Goexit() }
func (g *GoT) Errorf(format string, args ...any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.errs = append(g.errs, fmt.Sprintf(format, args...))
}

// Failures are the failures reported so far.
func (g *GoT) Failures() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.errs)
}

// The OpenAPI validator is built once per test binary: parsing and
// checking the document takes a while, and the Validator is safe for
// concurrent use.
var (
	specOnce sync.Once
	specV    *openapitest.Validator
	specErr  error
)

// Spec is the OpenAPI validator every Client uses.
func Spec(t TB) *openapitest.Validator {
	t.Helper()
	specOnce.Do(func() { specV, specErr = openapitest.NewValidator() })
	require.NoError(t, specErr, "build the OpenAPI validator")
	return specV
}

// Client talks HTTP to one node (or to whatever answers at Base: a fleet
// node keeps its address across restarts).
type Client struct {
	// Base is the node's URL, "http://127.0.0.1:port".
	Base string
	HTTP *http.Client
}

// NewClient returns a client of the node at base ("http://host:port").
// Its idle connections are closed when t ends.
func NewClient(t cleaner, base string) *Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &Client{Base: base, HTTP: &http.Client{Timeout: 20 * time.Second, Transport: tr}}
}

// cleaner is what NewClient needs of a test.
type cleaner interface{ Cleanup(func()) }

// Anon is a caller without a token.
func (c *Client) Anon() *Caller { return &Caller{Client: c, Header: http.Header{}} }

// As is a caller that authenticates with token.
func (c *Client) As(token string) *Caller { return c.Anon().WithToken(token) }

// Caller is one client of the API: anonymous (no token) or a user.
type Caller struct {
	Client  *Client
	Token   string
	Refresh string
	User    wire.User
	// Password the user signed up with (empty for anonymous callers).
	Password string
	// Header is sent with every request of this caller (X-Forwarded-For).
	Header http.Header
}

// ID is the caller's user id.
func (u *Caller) ID() string { return u.User.ID }

// With returns a copy of u that also sends header k: v on every request.
func (u *Caller) With(k, v string) *Caller {
	cp := *u
	cp.Header = u.Header.Clone()
	if cp.Header == nil {
		cp.Header = http.Header{}
	}
	cp.Header.Set(k, v)
	return &cp
}

// WithToken returns a copy of u that authenticates with token.
func (u *Caller) WithToken(token string) *Caller {
	cp := *u
	cp.Token = token
	return &cp
}

// Raw is a request body sent exactly as given (not JSON-encoded).
type Raw string

// reqConf collects a request's options.
type reqConf struct {
	header       http.Header
	validateReq  bool
	validateResp bool
	chunked      bool
}

// Opt adjusts one request.
type Opt func(*reqConf)

// Header sets a request header; an empty value removes it (e.g. the
// default Content-Type).
func Header(k, v string) Opt {
	return func(c *reqConf) {
		if v == "" {
			c.header.Del(k)
			c.header[http.CanonicalHeaderKey(k)] = nil
			return
		}
		c.header.Set(k, v)
	}
}

// IdempotencyKey sends the Idempotency-Key header.
func IdempotencyKey(key string) Opt { return Header("Idempotency-Key", key) }

// InvalidRequest marks a request that deliberately breaks the document:
// only the answer is validated.
func InvalidRequest() Opt { return func(c *reqConf) { c.validateReq = false } }

// OffSpec marks a request to a route or method the document does not
// have (unknown route, wrong method): neither side can be validated
// against it; the caller checks the problem body itself.
func OffSpec() Opt {
	return func(c *reqConf) { c.validateReq, c.validateResp = false, false }
}

// Chunked sends the body without Content-Length.
func Chunked() Opt { return func(c *reqConf) { c.chunked = true } }

// Response is what the node answered.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	Req    string // "METHOD path", for messages
}

func (r *Response) String() string {
	return fmt.Sprintf("%s → %d %s", r.Req, r.Status, bytes.TrimSpace(r.Body))
}

// Try sends one request. A request or an answer that does not conform to
// the OpenAPI document (unless opts say otherwise), or an error answer
// that is not problem+json, is reported to t with Errorf; a transport
// error (refused, reset, timed out) is returned, for tests that kill
// nodes under load. body is nil (no body), a Raw or []byte (sent as is)
// or a value to JSON-encode.
func (u *Caller) Try(t TB, method, path string, body any, opts ...Opt) (*Response, error) {
	t.Helper()
	conf := reqConf{header: http.Header{}, validateReq: true, validateResp: true}
	var payload []byte
	if body != nil {
		switch v := body.(type) {
		case Raw:
			payload = []byte(v)
		case []byte:
			payload = v
		default:
			var err error
			if payload, err = json.Marshal(v); err != nil {
				return nil, fmt.Errorf("encode the body of %s %s: %w", method, path, err)
			}
		}
		conf.header.Set("Content-Type", "application/json")
	}
	for k, vs := range u.Header {
		conf.header[k] = vs
	}
	if u.Token != "" {
		conf.header.Set("Authorization", "Bearer "+u.Token)
	}
	for _, o := range opts {
		o(&conf)
	}
	newReq := func() (*http.Request, error) {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(payload)
			if conf.chunked {
				rd = io.MultiReader(rd) // hides the length: chunked encoding
			}
		}
		req, err := http.NewRequestWithContext(t.Context(), method, u.Client.Base+path, rd)
		if err != nil {
			return nil, err
		}
		for k, vs := range conf.header {
			if vs != nil {
				req.Header[k] = vs
			}
		}
		return req, nil
	}
	req, err := newReq()
	if err != nil {
		return nil, err
	}
	if conf.validateReq {
		check, _ := newReq()
		if err := Spec(t).ValidateRequest(check); err != nil {
			t.Errorf("request %s %s %s does not conform to the OpenAPI document: %v", method, path, payload, err)
		}
	}
	resp, err := u.Client.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Req: method + " " + path}
	// An upgraded connection (WebSocket) has no body to read; closing the
	// body closes the connection.
	if resp.StatusCode != http.StatusSwitchingProtocols {
		if out.Body, err = io.ReadAll(resp.Body); err != nil {
			return nil, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
		}
	}
	if conf.validateResp {
		check, _ := newReq()
		if err := Spec(t).ValidateResponse(check, resp.StatusCode, resp.Header, out.Body); err != nil {
			t.Errorf("answer does not conform to the OpenAPI document: %s: %v", out, err)
		}
	}
	if resp.StatusCode >= 400 && !(path == "/readyz" && resp.StatusCode == http.StatusServiceUnavailable) {
		// Every error, documented route or not, is problem+json (but for
		// readiness's 503, its own JSON body naming what is down).
		if err := problemShape(out); err != nil {
			t.Errorf("%s: %v", out, err)
		}
	}
	return out, nil
}

// Do is Try for tests in which the node is up: a transport error fails t.
func (u *Caller) Do(t TB, method, path string, body any, opts ...Opt) *Response {
	t.Helper()
	r, err := u.Try(t, method, path, body, opts...)
	require.NoError(t, err)
	return r
}

func (u *Caller) Get(t TB, path string, opts ...Opt) *Response {
	t.Helper()
	return u.Do(t, http.MethodGet, path, nil, opts...)
}

func (u *Caller) Post(t TB, path string, body any, opts ...Opt) *Response {
	t.Helper()
	return u.Do(t, http.MethodPost, path, body, opts...)
}

func (u *Caller) Put(t TB, path string, body any, opts ...Opt) *Response {
	t.Helper()
	return u.Do(t, http.MethodPut, path, body, opts...)
}

func (u *Caller) Patch(t TB, path string, body any, opts ...Opt) *Response {
	t.Helper()
	return u.Do(t, http.MethodPatch, path, body, opts...)
}

func (u *Caller) Delete(t TB, path string, opts ...Opt) *Response {
	t.Helper()
	return u.Do(t, http.MethodDelete, path, nil, opts...)
}

// Problem is a problem+json body (RFC 9457) as the API writes it.
type Problem struct {
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

// Fields are the names of the fields the problem's errors name.
func (p Problem) Fields() []string {
	out := make([]string, 0, len(p.Errors))
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}

// problemShape checks an error answer is problem+json as DESIGN.md §3
// has it: the status repeated, a code, a type naming the code, a title.
func problemShape(r *Response) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/problem+json" {
		return fmt.Errorf("an error answer is not application/problem+json (Content-Type %q)", r.Header.Get("Content-Type"))
	}
	var p Problem
	if err := json.Unmarshal(r.Body, &p); err != nil {
		return fmt.Errorf("problem body: %w", err)
	}
	switch {
	case p.Status != r.Status:
		return fmt.Errorf("problem status %d, answer status %d", p.Status, r.Status)
	case p.Code == "":
		return fmt.Errorf("problem without a code")
	case p.Type != "https://outrider.dev/problems/"+p.Code:
		return fmt.Errorf("problem type %q does not name code %q", p.Type, p.Code)
	case p.Title == "":
		return fmt.Errorf("problem without a title")
	}
	return nil
}

// RequireStatus fails the test unless the answer has status want.
func (r *Response) RequireStatus(t TB, want int) *Response {
	t.Helper()
	require.Equal(t, want, r.Status, "%s", r)
	return r
}

// Decode requires status want and decodes the JSON body into v.
func (r *Response) Decode(t TB, want int, v any) {
	t.Helper()
	r.RequireStatus(t, want)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	require.Equal(t, "application/json", mt, "%s", r)
	require.NoError(t, json.Unmarshal(r.Body, v), "%s", r)
}

// Problem requires a problem+json answer with status and code.
func (r *Response) Problem(t TB, status int, code string) Problem {
	t.Helper()
	require.Equal(t, status, r.Status, "%s", r)
	var p Problem
	require.NoError(t, json.Unmarshal(r.Body, &p), "%s", r)
	require.Equal(t, code, p.Code, "%s", r)
	return p
}

// WithoutInstance is a problem body without its instance and request_id
// members, which differ between two answers of the same problem (each
// request has an id of its own); it requires request_id to be there.
func WithoutInstance(t TB, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m))
	require.NotEmpty(t, m["request_id"], "a problem without request_id: %s", body)
	delete(m, "instance")
	delete(m, "request_id")
	return m
}
