package httpapi_test

// Handler tests on fakes (fakes_test.go): the real router and middleware
// of httpapi.Server, served with httptest, over an in-memory store and
// actors. The answers expected come from DESIGN.md §3 and the OpenAPI
// document, and every answer is validated against the document
// (openapitest), as is every request not sent malformed on purpose.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/transport/httpapi"
	"github.com/outrider/outrider/transport/httpapi/openapitest"
)

var (
	handlerSpecOnce sync.Once
	handlerSpec     *openapitest.Validator
	handlerSpecErr  error
)

// handlerBundle is what a handler test pokes the server with.
type handlerBundle struct {
	store  *fakeStore
	actors *fakeActors
	clock  *fakeClock
	// Callers, logged in through POST /v1/auth/login.
	customer, otherCustomer, driver, otherDriver, admin *handlerCaller
}

// handlerCaller is a logged-in user; a zero token is an anonymous caller.
type handlerCaller struct {
	user  fakeUser
	token string
}

// maxBody is the server's body limit in these tests (Config.MaxBodyBytes).
const maxBody = 2 << 10

func setupHandlers(t *testing.T) (http.Handler, *handlerBundle) {
	t.Helper()
	return setupHandlersWith(t, nil)
}

// setupHandlersWith is setupHandlers with the server's configuration and
// collaborators adjusted by adjust (a logger to read, proxies to trust).
func setupHandlersWith(t *testing.T, adjust func(*httpapi.Config, *httpapi.Deps)) (http.Handler, *handlerBundle) {
	t.Helper()
	handlerSpecOnce.Do(func() { handlerSpec, handlerSpecErr = openapitest.NewValidator() })
	require.NoError(t, handlerSpecErr)
	clock := &fakeClock{t: time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)}
	store := newFakeStore()
	acts := newFakeActors(store, clock.now)
	cfg := httpapi.Config{
		JWTSecret: []byte(strings.Repeat("s", 32)), BcryptCost: 4, MaxBodyBytes: maxBody,
		// Limits high enough that no test meets them.
		RatePerSecond: 1e6, RateBurst: 1e6, AuthRatePerSecond: 1e6, AuthRateBurst: 1e6,
	}
	deps := httpapi.Deps{Actors: acts, Store: store, Clock: clock.now}
	if adjust != nil {
		adjust(&cfg, &deps)
	}
	srv, err := httpapi.New(cfg, deps)
	require.NoError(t, err)
	h := srv.Handler()
	b := &handlerBundle{store: store, actors: acts, clock: clock}
	login := func(role string) *handlerCaller {
		u := addUser(t, store, acts, role)
		rec := serve(t, h, http.MethodPost, "/v1/auth/login", "", `{"email":"`+u.Email+`","password":"`+u.Password+`"}`, nil)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &tok))
		return &handlerCaller{user: u, token: tok.AccessToken}
	}
	b.customer, b.otherCustomer = login(actors.RoleCustomer), login(actors.RoleCustomer)
	b.driver, b.otherDriver = login(actors.RoleDriver), login(actors.RoleDriver)
	b.admin = login(actors.RoleAdmin)
	return h, b
}

// handlerOpt adjusts a request before it is sent.
type handlerOpt func(r *http.Request)

// offSpecReq marks a request the document refuses on purpose (malformed,
// unknown field, wrong media type...): it is sent without checking it.
// Its answer is still checked.
func offSpecReq() handlerOpt { return func(r *http.Request) { r.Header.Set("X-Test-Off-Spec", "1") } }

func headerReq(k, v string) handlerOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

// chunkedReq hides the body's length, as a chunked upload does.
func chunkedReq() handlerOpt { return func(r *http.Request) { r.ContentLength = -1 } }

// serve sends one request through h as the caller with token and returns
// the answer, after checking both against the document.
func serve(t *testing.T, h http.Handler, method, path, token, body string, opts []handlerOpt) *httptest.ResponseRecorder {
	t.Helper()
	newReq := func() *http.Request {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		r := httptest.NewRequest(method, path, rd)
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		for _, o := range opts {
			o(r)
		}
		return r
	}
	req := newReq()
	if req.Header.Get("X-Test-Off-Spec") == "" {
		require.NoError(t, handlerSpec.ValidateRequest(newReq()), "request %s %s %s", method, path, body)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.NoError(t, handlerSpec.ValidateResponse(newReq(), rec.Code, rec.Header(), rec.Body.Bytes()),
		"answer to %s %s: %d %s", method, path, rec.Code, rec.Body.String())
	return rec
}

func (c *handlerCaller) do(t *testing.T, h http.Handler, method, path, body string, opts ...handlerOpt) *httptest.ResponseRecorder {
	t.Helper()
	token := ""
	if c != nil {
		token = c.token
	}
	return serve(t, h, method, path, token, body, opts)
}

// problemAnswer is a problem+json answer, as far as the tests read it.
type problemAnswer struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Errors []struct {
		Field string `json:"field"`
	} `json:"errors"`
}

// requireProblem checks rec is a problem of status and code, naming
// fields (if any are given) as the fields at fault.
func requireProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, code string, fields ...string) {
	t.Helper()
	require.Equal(t, status, rec.Code, rec.Body.String())
	require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	var p problemAnswer
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	require.Equal(t, code, p.Code, rec.Body.String())
	var got []string
	for _, f := range p.Errors {
		got = append(got, f.Field)
	}
	for _, f := range fields {
		require.Contains(t, got, f, rec.Body.String())
	}
}

const newOrderBody = `{"pickup":{"address":"1 Main St","lat":52.5,"lng":13.4},"dropoff":{"address":"2 Side St"},"delivery_option":"standard"}`

// orderAnswer is an order as the tests read it.
type orderAnswer struct {
	ID         string  `json:"id"`
	CustomerID string  `json:"customer_id"`
	DriverID   *string `json:"driver_id"`
	Status     string  `json:"status"`
}

// placeOrder has c place an order and returns it.
func (c *handlerCaller) placeOrder(t *testing.T, h http.Handler) orderAnswer {
	t.Helper()
	rec := c.do(t, h, http.MethodPost, "/v1/orders", newOrderBody)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	var o orderAnswer
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &o))
	return o
}

// assignedOrder is a customer's order that the admin assigned to driver.
func (b *handlerBundle) assignedOrder(t *testing.T, h http.Handler) orderAnswer {
	t.Helper()
	o := b.customer.placeOrder(t, h)
	rec := b.admin.do(t, h, http.MethodPost, "/v1/orders/"+o.ID+"/assign", `{"driver_id":"`+b.driver.user.ID+`"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &o))
	return o
}

// TestHandlerRoles: who may call a route is the table of DESIGN.md §3; a
// role outside it is 403 forbidden, no token (or a bad or expired one)
// 401.
func TestHandlerRoles(t *testing.T) {
	t.Parallel()
	h, b := setupHandlers(t)
	const ok = 0 // the route's success status, given per case
	type want map[string]int
	cases := []struct {
		name, method string
		path         func() string
		body         string
		success      int
		// By caller: "customer", "driver", "admin", "anonymous".
		want want
	}{
		{"the caller, for any user", http.MethodGet, func() string { return "/v1/me" }, "", 200,
			want{"customer": ok, "driver": ok, "admin": ok, "anonymous": 401}},
		{"orders are placed by customers and admins", http.MethodPost, func() string { return "/v1/orders" }, newOrderBody, 201,
			want{"customer": ok, "driver": 403, "admin": ok, "anonymous": 401}},
		{"drivers are listed for admins", http.MethodGet, func() string { return "/v1/drivers" }, "", 200,
			want{"customer": 403, "driver": 403, "admin": ok, "anonymous": 401}},
		{"a driver's record, for admins and the driver", http.MethodGet, func() string { return "/v1/drivers/" + b.driver.user.ID }, "", 200,
			want{"customer": 403, "driver": ok, "admin": ok, "anonymous": 401}},
		{"drivers nearby are for admins, though drivers may read /v1/drivers/:id", http.MethodGet,
			func() string { return "/v1/drivers/nearby?lat=52.52&lng=13.405" }, "", 200,
			want{"customer": 403, "driver": 403, "admin": ok, "anonymous": 401}},
		{"availability is the driver's own", http.MethodPut, func() string { return "/v1/drivers/me/availability" }, `{"available":false}`, 200,
			want{"customer": 403, "driver": ok, "admin": 403, "anonymous": 401}},
		{"admins assign", http.MethodPost, func() string { return "/v1/orders/" + b.customer.placeOrder(t, h).ID + "/assign" },
			`{"driver_id":"` + b.otherDriver.user.ID + `"}`, 200,
			want{"customer": 403, "driver": 403, "admin": ok, "anonymous": 401}},
	}
	callers := map[string]*handlerCaller{"customer": b.customer, "driver": b.driver, "admin": b.admin, "anonymous": nil}
	for _, tc := range cases {
		for who, status := range tc.want {
			t.Run(tc.name+"/"+who, func(t *testing.T) {
				rec := callers[who].do(t, h, tc.method, tc.path(), tc.body)
				switch status {
				case ok:
					require.Equal(t, tc.success, rec.Code, rec.Body.String())
				case 401:
					requireProblem(t, rec, 401, "unauthorized")
				default:
					requireProblem(t, rec, status, "forbidden")
				}
			})
		}
	}

	t.Run("a token that is not one", func(t *testing.T) {
		bad := &handlerCaller{token: b.customer.token + "x"}
		requireProblem(t, bad.do(t, h, http.MethodGet, "/v1/me", ""), 401, "unauthorized")
	})
}

// TestHandlerExpiredToken: an access token past its lifetime (15 minutes
// by default) is 401 token_expired, so a client knows to refresh it.
func TestHandlerExpiredToken(t *testing.T) {
	t.Parallel()
	h, b := setupHandlers(t)
	require.Equal(t, http.StatusOK, b.customer.do(t, h, http.MethodGet, "/v1/me", "").Code)
	b.clock.advance(httpapi.DefaultAccessTTL + time.Minute)
	requireProblem(t, b.customer.do(t, h, http.MethodGet, "/v1/me", ""), 401, "token_expired")
}

// TestHandlerBadBodies: a body that is not one JSON object of the
// request's fields is refused with a stable code: 400 malformed_json or
// unknown_field, 413 body_too_large, 415 unsupported_media_type, 422
// validation_failed naming the fields.
func TestHandlerBadBodies(t *testing.T) {
	t.Parallel()
	h, b := setupHandlers(t)
	big := `{"pickup":{"address":"1 Main St"},"dropoff":{"address":"2 Side St"},"delivery_option":"standard","notes":"` +
		strings.Repeat("n", maxBody) + `"}`
	cases := []struct {
		name, path, body string
		opts             []handlerOpt
		status           int
		code             string
		fields           []string
	}{
		{"malformed", "/v1/orders", `{"pickup":`, []handlerOpt{offSpecReq()}, 400, "malformed_json", nil},
		{"no body", "/v1/orders", "", []handlerOpt{offSpecReq()}, 400, "malformed_json", nil},
		{"two values", "/v1/orders", newOrderBody + newOrderBody, []handlerOpt{offSpecReq()}, 400, "malformed_json", nil},
		{"unknown field", "/v1/orders", strings.Replace(newOrderBody, `{`, `{"colour":"red",`, 1), []handlerOpt{offSpecReq()}, 400, "unknown_field", []string{"colour"}},
		{"unknown nested field", "/v1/orders", strings.Replace(newOrderBody, `"address":"2 Side St"`, `"address":"2 Side St","zip":"1"`, 1), []handlerOpt{offSpecReq()}, 400, "unknown_field", nil},
		{"field in the wrong case", "/v1/orders", strings.Replace(newOrderBody, `"delivery_option"`, `"Delivery_Option"`, 1), []handlerOpt{offSpecReq()}, 400, "unknown_field", []string{"Delivery_Option"}},
		{"field twice", "/v1/orders", strings.Replace(newOrderBody, `{`, `{"notes":"a","notes":"b",`, 1), []handlerOpt{offSpecReq()}, 422, "validation_failed", []string{"notes"}},
		{"wrong type", "/v1/orders", strings.Replace(newOrderBody, `{`, `{"notes":5,`, 1), []handlerOpt{offSpecReq()}, 422, "validation_failed", []string{"notes"}},
		{"missing fields", "/v1/orders", `{"delivery_option":"standard"}`, []handlerOpt{offSpecReq()}, 422, "validation_failed", []string{"pickup", "dropoff"}},
		{"over the limit", "/v1/orders", big, []handlerOpt{offSpecReq()}, 413, "body_too_large", nil},
		{"over the limit, chunked", "/v1/orders", big, []handlerOpt{offSpecReq(), chunkedReq()}, 413, "body_too_large", nil},
		{"not JSON", "/v1/orders", newOrderBody, []handlerOpt{offSpecReq(), headerReq("Content-Type", "text/plain")}, 415, "unsupported_media_type", nil},
		{"Idempotency-Key too long", "/v1/orders", newOrderBody, []handlerOpt{offSpecReq(), headerReq("Idempotency-Key", strings.Repeat("k", 256))}, 422, "validation_failed", []string{"Idempotency-Key"}},
		{"a body where none is taken", "/v1/orders/ord_01HZX0000000000000000000AA/accept", `{"why":"x"}`, []handlerOpt{offSpecReq()}, 400, "unknown_field", []string{"why"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			caller := b.customer
			if strings.HasSuffix(tc.path, "/accept") {
				caller = b.driver
			}
			rec := caller.do(t, h, http.MethodPost, tc.path, tc.body, tc.opts...)
			requireProblem(t, rec, tc.status, tc.code, tc.fields...)
		})
	}
	// None of them placed an order.
	rec := b.customer.do(t, h, http.MethodGet, "/v1/orders", "")
	require.JSONEq(t, `{"items":[],"next_cursor":null}`, rec.Body.String())
}

// TestHandlerPages: lists page with ?limit and an opaque ?cursor into
// {"items", "next_cursor"}, next_cursor null on the last page; customers
// see only their own orders, drivers only theirs; a cursor the API did
// not issue and a limit out of 1..200 are 422 validation_failed.
func TestHandlerPages(t *testing.T) {
	t.Parallel()
	h, b := setupHandlers(t)
	var mine []string
	for range 5 {
		mine = append(mine, b.customer.placeOrder(t, h).ID)
	}
	theirs := b.otherCustomer.placeOrder(t, h).ID

	type page struct {
		Items      []orderAnswer `json:"items"`
		NextCursor *string       `json:"next_cursor"`
	}
	walk := func(c *handlerCaller, limit string) (ids []string, pages int) {
		path := "/v1/orders?limit=" + limit
		for {
			rec := c.do(t, h, http.MethodGet, path, "")
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			var p page
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
			pages++
			for _, o := range p.Items {
				ids = append(ids, o.ID)
			}
			if p.NextCursor == nil {
				return ids, pages
			}
			require.Len(t, p.Items, 2, "a page before the last is full")
			path = "/v1/orders?limit=" + limit + "&cursor=" + *p.NextCursor
		}
	}

	ids, pages := walk(b.customer, "2")
	require.Equal(t, 3, pages)
	require.Len(t, ids, 5)
	require.ElementsMatch(t, mine, ids, "the customer's own orders, each once")
	require.IsDecreasing(t, ids, "newest first")

	all, _ := walk(b.admin, "2")
	require.ElementsMatch(t, append(mine, theirs), all)

	none, pages := walk(b.driver, "2")
	require.Empty(t, none, "a driver sees only the orders assigned to them")
	require.Equal(t, 1, pages)

	for _, q := range []struct{ query, field string }{
		{"cursor=not-a-cursor", "cursor"},
		{"cursor=" + "djI6b3JkXzAx", "cursor"}, // base64url of "v2:ord_01": not this API's format
		{"limit=0", "limit"},
		{"limit=201", "limit"},
		{"limit=ten", "limit"},
	} {
		t.Run(q.query, func(t *testing.T) {
			requireProblem(t, b.customer.do(t, h, http.MethodGet, "/v1/orders?"+q.query, "", offSpecReq()), 422, "validation_failed", q.field)
		})
	}
}

// TestHandlerInvisibleOrder: an order the caller may not see is 404
// not_found, never 403 — to its readers, and to a status change by
// someone who cannot see it — while accept by any driver but the
// assigned one is 403, and out of state 409 (DESIGN.md §3).
func TestHandlerInvisibleOrder(t *testing.T) {
	t.Parallel()
	h, b := setupHandlers(t)
	o := b.assignedOrder(t, h)
	for _, path := range []string{"/v1/orders/" + o.ID, "/v1/orders/" + o.ID + "/timeline"} {
		for who, c := range map[string]*handlerCaller{"owner": b.customer, "its driver": b.driver, "admin": b.admin} {
			t.Run(path+"/"+who, func(t *testing.T) {
				require.Equal(t, http.StatusOK, c.do(t, h, http.MethodGet, path, "").Code)
			})
		}
		for who, c := range map[string]*handlerCaller{"another customer": b.otherCustomer, "another driver": b.otherDriver} {
			t.Run(path+"/"+who, func(t *testing.T) {
				requireProblem(t, c.do(t, h, http.MethodGet, path, ""), 404, "not_found")
			})
		}
	}
	t.Run("no such order", func(t *testing.T) {
		requireProblem(t, b.admin.do(t, h, http.MethodGet, "/v1/orders/ord_01HZX0000000000000000000AA", ""), 404, "not_found")
		requireProblem(t, b.admin.do(t, h, http.MethodGet, "/v1/orders/nope", ""), 404, "not_found")
	})
	t.Run("cancelled by another customer", func(t *testing.T) {
		rec := b.otherCustomer.do(t, h, http.MethodPut, "/v1/orders/"+o.ID+"/status", `{"status":"cancelled"}`)
		requireProblem(t, rec, 404, "not_found")
	})
	t.Run("accepted by another driver", func(t *testing.T) {
		requireProblem(t, b.otherDriver.do(t, h, http.MethodPost, "/v1/orders/"+o.ID+"/accept", ""), 403, "forbidden")
	})
	t.Run("accepted by its driver, then again", func(t *testing.T) {
		rec := b.driver.do(t, h, http.MethodPost, "/v1/orders/"+o.ID+"/accept", "")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		requireProblem(t, b.driver.do(t, h, http.MethodPost, "/v1/orders/"+o.ID+"/accept", ""), 409, "invalid_transition")
	})
	// Nothing the refused callers sent changed the order.
	rec := b.admin.do(t, h, http.MethodGet, "/v1/orders/"+o.ID, "")
	var now orderAnswer
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &now))
	require.Equal(t, "accepted", now.Status)
}

// TestHandlerNearbyQuery: GET /v1/drivers/nearby refuses a query out of
// its bounds with 422 naming the field, and accepts the bounds themselves.
func TestHandlerNearbyQuery(t *testing.T) {
	t.Parallel()
	h, b := setupHandlers(t)
	bad := []struct{ query, field string }{
		{"lng=13.4", "lat"},
		{"lat=52.5", "lng"},
		{"lat=90.5&lng=0", "lat"},
		{"lat=0&lng=-180.1", "lng"},
		{"lat=x&lng=0", "lat"},
		{"lat=0&lng=0&radius_m=0", "radius_m"},
		{"lat=0&lng=0&radius_m=50001", "radius_m"},
		{"lat=0&lng=0&radius_m=1.5", "radius_m"},
		{"lat=0&lng=0&limit=0", "limit"},
		{"lat=0&lng=0&limit=101", "limit"},
		{"lat=0&lng=0&available=yes", "available"},
	}
	for _, tc := range bad {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			rec := b.admin.do(t, h, http.MethodGet, "/v1/drivers/nearby?"+tc.query, "", offSpecReq())
			requireProblem(t, rec, 422, "validation_failed", tc.field)
		})
	}
	for _, query := range []string{
		"lat=-90&lng=-180&radius_m=1&limit=1", "lat=90&lng=180&radius_m=50000&limit=100&available=true", "lat=0&lng=0&available=false",
	} {
		t.Run(query, func(t *testing.T) {
			t.Parallel()
			rec := b.admin.do(t, h, http.MethodGet, "/v1/drivers/nearby?"+query, "")
			require.Equal(t, 200, rec.Code, rec.Body.String())
			require.JSONEq(t, `{"items":[]}`, rec.Body.String())
		})
	}
}
