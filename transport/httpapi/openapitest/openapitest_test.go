package openapitest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/outrider/outrider/transport/httpapi/openapi"
)

var (
	sharedOnce sync.Once
	sharedV    *Validator
	sharedErr  error
)

func newV(t *testing.T) *Validator {
	t.Helper()
	sharedOnce.Do(func() { sharedV, sharedErr = NewValidator() })
	if sharedErr != nil {
		t.Fatalf("NewValidator: %v", sharedErr)
	}
	return sharedV
}

func TestDocumentIsOpenAPI31(t *testing.T) {
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(openapi.Document(), &doc); err != nil {
		t.Fatalf("document is not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	// NewValidator checks the document against the OpenAPI 3.1 meta-schema.
	newV(t)
}

// TestBrokenDocumentsAreRefused shows that newValidator's checks are real.
func TestBrokenDocumentsAreRefused(t *testing.T) {
	for name, doc := range map[string]string{
		"not 3.1":           `{"openapi":"3.0.3","info":{"title":"x","version":"1"},"paths":{}}`,
		"missing info":      `{"openapi":"3.1.0","paths":{}}`,
		"bad parameter":     `{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"parameters":[{"name":"q","in":"nowhere"}],"responses":{"200":{"description":"ok"}}}}}}`,
		"response no descr": `{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"responses":{"200":{}}}}}}`,
	} {
		if _, err := newValidator([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestDocumentReturnsCopy(t *testing.T) {
	a := openapi.Document()
	a[0] = 'X'
	if openapi.Document()[0] == 'X' {
		t.Fatal("openapi.Document() exposes the embedded bytes")
	}
}

type opObj = map[string]any

func loadDoc(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(openapi.Document(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func resolve(doc map[string]any, v any) map[string]any {
	m, _ := v.(map[string]any)
	for m != nil {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		var cur any = doc
		for _, p := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cur = cur.(map[string]any)[p]
		}
		m, _ = cur.(map[string]any)
	}
	return m
}

func TestDocumentRoutes(t *testing.T) {
	want := []string{
		"POST /v1/auth/signup", "POST /v1/auth/login", "POST /v1/auth/refresh", "POST /v1/auth/logout", "POST /v1/auth/password-reset", "POST /v1/auth/password-reset/confirm",
		"GET /v1/me", "POST /v1/users", "GET /v1/drivers", "GET /v1/drivers/nearby", "GET /v1/drivers/{id}", "PATCH /v1/drivers/{id}",
		"PUT /v1/drivers/me/availability", "POST /v1/orders", "GET /v1/orders", "GET /v1/orders/{id}",
		"GET /v1/orders/{id}/timeline", "GET /v1/orders/{id}/track", "GET /v1/orders/{id}/tracking-link", "GET /v1/track/{token}", "GET /v1/track/{token}/events", "POST /v1/orders/{id}/assign", "POST /v1/orders/{id}/unassign", "POST /v1/orders/{id}/dispatch", "PATCH /v1/me", "POST /v1/me/password", "GET /v1/users", "PATCH /v1/users/{id}", "DELETE /v1/users/{id}", "GET /v1/users/{id}/export", "PUT /v1/orders/{id}/payment", "GET /v1/orders/{id}/dispatch", "POST /v1/orders/{id}/accept",
		"POST /v1/orders/{id}/decline", "PUT /v1/orders/{id}/status", "GET /v1/metrics/orders-by-day", "GET /v1/metrics/delivery-times",
		"GET /v1/openapi.json", "GET /v1/asyncapi.json", "GET /healthz", "GET /readyz", "GET /metrics", "GET /v1/ws",
		"POST /v1/uploads/presign", "GET /v1/orders/{id}/proofs", "POST /v1/orders/{id}/proofs",
		"GET /v1/blobs/{key}", "HEAD /v1/blobs/{key}", "PUT /v1/blobs/{key}",
		"GET /v1/notifications", "POST /v1/notifications/{id}/read", "POST /v1/notifications/read-all",
		"GET /v1/webhooks", "POST /v1/webhooks", "GET /v1/webhooks/{id}", "PATCH /v1/webhooks/{id}",
		"DELETE /v1/webhooks/{id}", "GET /v1/webhooks/{id}/deliveries", "GET /v1/cluster",
	}
	doc := loadDoc(t)
	var got []string
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			M := strings.ToUpper(method)
			got = append(got, M+" "+path)
			o := op.(map[string]any)
			// Idempotency-Key on every authenticated write (public ones
			// answer with tokens, which are never stored for replay).
			write := M == "POST" || M == "PUT" || M == "PATCH" || M == "DELETE"
			if sec, public := o["security"].([]any); write && !(public && len(sec) == 0) {
				found := false
				params, _ := o["parameters"].([]any)
				for _, p := range params {
					if resolve(doc, p)["name"] == "Idempotency-Key" {
						found = true
					}
				}
				if !found {
					t.Errorf("%s %s: no Idempotency-Key parameter", M, path)
				}
			}
			// Request bodies are closed objects.
			if rb, ok := o["requestBody"]; ok && path != "/v1/blobs/{key}" { // uploads are bytes, not JSON
				s := resolve(doc, resolve(doc, rb)["content"].(map[string]any)["application/json"].(map[string]any)["schema"])
				if s["additionalProperties"] != false {
					t.Errorf("%s %s: request body schema lacks additionalProperties: false", M, path)
				}
			}
			// Every error response is a shared response of the document's,
			// listed under its status (there is no default), and is only
			// problem+json unless the route answers otherwise.
			for code, r := range o["responses"].(map[string]any) {
				if code == "default" {
					t.Errorf("%s %s: a default response stands in for statuses the operation does not list", M, path)
					continue
				}
				if code < "400" {
					continue
				}
				want, ok := otherErrorMedia[M+" "+path+" "+code]
				if !ok {
					want = []string{"application/problem+json"}
				}
				if path == "/readyz" && code == "503" { // readyz's 503 is its own document
					continue
				}
				if ref, _ := r.(map[string]any)["$ref"].(string); !strings.HasPrefix(ref, "#/components/responses/") {
					t.Errorf("%s %s %s: error response is not a shared response (#/components/responses/...)", M, path, code)
				}
				var got []string
				for mt := range resolve(doc, r)["content"].(map[string]any) {
					got = append(got, mt)
				}
				sort.Strings(got)
				if !slices.Equal(got, want) {
					t.Errorf("%s %s %s: error response media types %v, want %v", M, path, code, got, want)
				}
			}
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("routes:\n got %v\nwant %v", got, want)
	}
}

// otherErrorMedia are the error answers that are not only problem+json,
// by "METHOD path status", and why: readyz's 503 is its own Readiness
// document; the libraries behind /metrics (promhttp, when gathering fails)
// and /v1/ws (gorilla's upgrader, refusing a handshake or failing to take
// over the connection) answer in plain text, and a panic anywhere is
// problem+json.
var otherErrorMedia = map[string][]string{
	"GET /readyz 503":  {"application/json"},
	"GET /metrics 500": {"application/problem+json", "text/plain"},
	"GET /v1/ws 400":   {"text/plain"},
	"GET /v1/ws 403":   {"text/plain"},
	"GET /v1/ws 500":   {"application/problem+json", "text/plain"},
}

type reqCase struct {
	name, method, target, ctype, body string
	header                            map[string]string
	ok                                bool
}

const (
	place    = `{"address":"1 Main St","lat":52.5,"lng":13.4}`
	placeNoC = `{"address":"2 Side St"}`
)

func TestValidateRequest(t *testing.T) {
	v := newV(t)
	j := "application/json"
	cases := []reqCase{
		{"signup ok", "POST", "/v1/auth/signup", j, `{"name":"Ann","email":"ann@example.com","password":"secret-123"}`, nil, true},
		{"signup with phone", "POST", "/v1/auth/signup", j + "; charset=utf-8", `{"name":"Ann","email":"ann@example.com","password":"secret-123","phone":"+4912345"}`, nil, true},
		{"signup unknown field", "POST", "/v1/auth/signup", j, `{"name":"Ann","email":"ann@example.com","password":"secret-123","role":"admin"}`, nil, false},
		{"signup short password", "POST", "/v1/auth/signup", j, `{"name":"Ann","email":"ann@example.com","password":"short"}`, nil, false},
		{"signup bad email", "POST", "/v1/auth/signup", j, `{"name":"Ann","email":"not-an-email","password":"secret-123"}`, nil, false},
		{"signup empty name", "POST", "/v1/auth/signup", j, `{"name":"","email":"ann@example.com","password":"secret-123"}`, nil, false},
		{"signup missing password", "POST", "/v1/auth/signup", j, `{"name":"Ann","email":"ann@example.com"}`, nil, false},
		{"signup malformed json", "POST", "/v1/auth/signup", j, `{"name":`, nil, false},
		{"signup idempotency key", "POST", "/v1/auth/signup", j, `{"name":"Ann","email":"ann@example.com","password":"secret-123"}`, map[string]string{"Idempotency-Key": "k-1"}, true},
		{"order idempotency key too long", "POST", "/v1/orders", j, `{"pickup":{"address":"a"},"dropoff":{"address":"b"},"delivery_option":"standard"}`, map[string]string{"Idempotency-Key": strings.Repeat("k", 256), "Authorization": "Bearer x"}, false},
		{"login ok", "POST", "/v1/auth/login", j, `{"email":"ann@example.com","password":"x"}`, nil, true},
		{"login extra", "POST", "/v1/auth/login", j, `{"email":"ann@example.com","password":"x","otp":"1"}`, nil, false},
		{"refresh ok", "POST", "/v1/auth/refresh", j, `{"refresh_token":"abc"}`, nil, true},
		{"refresh missing", "POST", "/v1/auth/refresh", j, `{}`, nil, false},
		{"logout ok", "POST", "/v1/auth/logout", j, `{"refresh_token":"abc"}`, nil, true},
		{"me", "GET", "/v1/me", "", "", nil, true},
		{"create driver", "POST", "/v1/users", j, `{"name":"D","email":"d@example.com","password":"secret-123","role":"driver","capacity":3}`, nil, true},
		{"create admin", "POST", "/v1/users", j, `{"name":"A","email":"a@example.com","password":"secret-123","role":"admin"}`, nil, true},
		{"create admin with capacity", "POST", "/v1/users", j, `{"name":"A","email":"a@example.com","password":"secret-123","role":"admin","capacity":2}`, nil, false},
		{"create customer via users", "POST", "/v1/users", j, `{"name":"C","email":"c@example.com","password":"secret-123","role":"customer"}`, nil, false},
		{"create driver capacity 21", "POST", "/v1/users", j, `{"name":"D","email":"d@example.com","password":"secret-123","role":"driver","capacity":21}`, nil, false},
		{"list drivers", "GET", "/v1/drivers?status=available&limit=50&cursor=abc", "", "", nil, true},
		{"list drivers bad status", "GET", "/v1/drivers?status=sleeping", "", "", nil, false},
		{"list drivers limit 0", "GET", "/v1/drivers?limit=0", "", "", nil, false},
		{"get driver", "GET", "/v1/drivers/01HZX", "", "", nil, true},
		{"availability", "PUT", "/v1/drivers/me/availability", j, `{"available":true}`, nil, true},
		{"availability string", "PUT", "/v1/drivers/me/availability", j, `{"available":"yes"}`, nil, false},
		{"create order", "POST", "/v1/orders", j, `{"pickup":` + place + `,"dropoff":` + placeNoC + `,"delivery_option":"express","notes":"ring twice"}`, nil, true},
		{"create scheduled order", "POST", "/v1/orders", j, `{"pickup":` + place + `,"dropoff":` + placeNoC + `,"delivery_option":"scheduled","scheduled_for":"2030-01-02T15:04:05Z","customer_id":"u1"}`, nil, true},
		{"scheduled without time", "POST", "/v1/orders", j, `{"pickup":` + place + `,"dropoff":` + placeNoC + `,"delivery_option":"scheduled"}`, nil, false},
		{"bad scheduled_for", "POST", "/v1/orders", j, `{"pickup":` + place + `,"dropoff":` + placeNoC + `,"delivery_option":"scheduled","scheduled_for":"tomorrow"}`, nil, false},
		{"lat without lng", "POST", "/v1/orders", j, `{"pickup":{"address":"x","lat":1},"dropoff":` + placeNoC + `,"delivery_option":"standard"}`, nil, false},
		{"lat out of range", "POST", "/v1/orders", j, `{"pickup":{"address":"x","lat":91,"lng":0},"dropoff":` + placeNoC + `,"delivery_option":"standard"}`, nil, false},
		{"empty address", "POST", "/v1/orders", j, `{"pickup":{"address":""},"dropoff":` + placeNoC + `,"delivery_option":"standard"}`, nil, false},
		{"place unknown field", "POST", "/v1/orders", j, `{"pickup":{"address":"x","zip":"1"},"dropoff":` + placeNoC + `,"delivery_option":"standard"}`, nil, false},
		{"bad delivery option", "POST", "/v1/orders", j, `{"pickup":` + place + `,"dropoff":` + placeNoC + `,"delivery_option":"drone"}`, nil, false},
		{"notes too long", "POST", "/v1/orders", j, `{"pickup":` + place + `,"dropoff":` + placeNoC + `,"delivery_option":"standard","notes":"` + strings.Repeat("n", 2001) + `"}`, nil, false},
		{"order as text/plain", "POST", "/v1/orders", "text/plain", `{"pickup":` + place + `,"dropoff":` + placeNoC + `,"delivery_option":"standard"}`, nil, false},
		{"list orders", "GET", "/v1/orders?status=pending,assigned&user=u1&limit=200&cursor=c", "", "", nil, true},
		{"list orders bad status", "GET", "/v1/orders?status=pending,teleported", "", "", nil, false},
		{"list orders limit 201", "GET", "/v1/orders?limit=201", "", "", nil, false},
		{"list orders limit nan", "GET", "/v1/orders?limit=ten", "", "", nil, false},
		{"get order", "GET", "/v1/orders/o1", "", "", nil, true},
		{"timeline", "GET", "/v1/orders/o1/timeline", "", "", nil, true},
		{"assign", "POST", "/v1/orders/o1/assign", j, `{"driver_id":"d1","expected_version":3}`, nil, true},
		{"assign version 0", "POST", "/v1/orders/o1/assign", j, `{"driver_id":"d1","expected_version":0}`, nil, false},
		{"assign without driver", "POST", "/v1/orders/o1/assign", j, `{}`, nil, false},
		{"accept", "POST", "/v1/orders/o1/accept", "", "", nil, true},
		{"decline without body", "POST", "/v1/orders/o1/decline", "", "", nil, true},
		{"decline with reason", "POST", "/v1/orders/o1/decline", j, `{"reason":"flat tyre"}`, nil, true},
		{"decline unknown field", "POST", "/v1/orders/o1/decline", j, `{"why":"flat tyre"}`, nil, false},
		{"status", "PUT", "/v1/orders/o1/status", j, `{"status":"picked_up","expected_version":4}`, nil, true},
		{"status with reason", "PUT", "/v1/orders/o1/status", j, `{"status":"failed","reason":"nobody home"}`, nil, true},
		{"status teleported", "PUT", "/v1/orders/o1/status", j, `{"status":"teleported"}`, nil, false},
		{"status back to pending", "PUT", "/v1/orders/o1/status", j, `{"status":"pending"}`, nil, false},
		{"status reason too long", "PUT", "/v1/orders/o1/status", j, `{"status":"failed","reason":"` + strings.Repeat("r", 501) + `"}`, nil, false},
		{"orders by day", "GET", "/v1/metrics/orders-by-day?from=2030-01-01&to=2030-01-31&tz=Europe/Berlin", "", "", nil, true},
		{"orders by day no tz", "GET", "/v1/metrics/orders-by-day?from=2030-01-01&to=2030-01-31", "", "", nil, true},
		{"orders by day bad date", "GET", "/v1/metrics/orders-by-day?from=01/01/2030&to=2030-01-31", "", "", nil, false},
		{"orders by day missing to (today)", "GET", "/v1/metrics/orders-by-day?from=2030-01-01", "", "", nil, true},
		{"delivery times", "GET", "/v1/metrics/delivery-times?from=2030-01-01&to=2030-01-31&tz=Europe/Berlin", "", "", nil, true},
		{"delivery times defaults", "GET", "/v1/metrics/delivery-times", "", "", nil, true},
		{"delivery times bad date", "GET", "/v1/metrics/delivery-times?from=2030-01-01&to=31.01.2030", "", "", nil, false},
		{"openapi.json", "GET", "/v1/openapi.json", "", "", nil, true},
		{"healthz", "GET", "/healthz", "", "", nil, true},
		{"readyz", "GET", "/readyz", "", "", nil, true},
		{"metrics", "GET", "/metrics", "", "", nil, true},
		{"accept with a body", "POST", "/v1/orders/o1/accept", j, `{}`, nil, false},
		{"body without content type", "POST", "/v1/auth/signup", "", `{"name":"Ann","email":"ann@example.com","password":"secret-123"}`, nil, false},
		{"empty body where required", "POST", "/v1/auth/signup", j, "", nil, false},
		{"drivers/me is a driver id on GET", "GET", "/v1/drivers/me", "", "", nil, true},
		{"availability is PUT only", "GET", "/v1/drivers/me/availability", "", "", nil, false},
		{"unknown path", "GET", "/v1/nope", "", "", nil, false},
		{"wrong method", "DELETE", "/v1/orders/o1", "", "", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			r := httptest.NewRequest(c.method, c.target, body)
			if c.ctype != "" {
				r.Header.Set("Content-Type", c.ctype)
			}
			r.Header.Set("Authorization", "Bearer x.y.z")
			for k, val := range c.header {
				r.Header.Set(k, val)
			}
			err := v.ValidateRequest(r)
			requireVerdict(t, c.ok, err)
			if err != nil {
				var oe *Error
				if !errors.As(err, &oe) || len(oe.Problems) == 0 {
					t.Fatalf("error %T is not an *Error with problems", err)
				}
			}
			// The body must still be readable for the handler.
			if c.body != "" {
				b, rerr := io.ReadAll(r.Body)
				if rerr != nil || string(b) != c.body {
					t.Fatalf("body not restored: %q, %v", b, rerr)
				}
			}
		})
	}
}

const (
	ts        = "2030-01-02T15:04:05Z"
	userJSON  = `{"id":"u1","email":"ann@example.com","name":"Ann","phone":null,"role":"customer","created_at":"` + ts + `","active":true}`
	orderJSON = `{"id":"o1","customer_id":"u1","driver_id":null,"pickup":` + place + `,"dropoff":` + placeNoC +
		`,"delivery_option":"standard","scheduled_for":null,"payment_status":"unpaid","status":"pending","notes":"","version":1,"offer_expires_at":null,"created_at":"` + ts + `","updated_at":"` + ts + `"}`
	driverJSON = `{"id":"d1","name":"Dee","email":"d@example.com","phone":"+491","status":"available","available":true,"capacity":3,"active_orders":1,"last_location":{"lat":52.5,"lng":13.4,"at":"` + ts + `"},"online":true,"updated_at":"` + ts + `"}`
	tokensJSON = `{"user":` + userJSON + `,"access_token":"a.b.c","refresh_token":"r","token_type":"Bearer","expires_in":900}`
	// dtHist is a delivery-times histogram up to its last, open bucket.
	dtHist = `{"le_minutes":15,"count":1},{"le_minutes":30,"count":1},{"le_minutes":45,"count":0},{"le_minutes":60,"count":0},{"le_minutes":90,"count":0},{"le_minutes":120,"count":0},{"le_minutes":180,"count":0},`
)

func without(obj, field string) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(obj), &m); err != nil {
		panic(err)
	}
	delete(m, field)
	b, _ := json.Marshal(m)
	return string(b)
}

func with(obj, field string, value any) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(obj), &m); err != nil {
		panic(err)
	}
	m[field] = value
	b, _ := json.Marshal(m)
	return string(b)
}

type respCase struct {
	name, method, target string
	status               int
	ctype, body          string
	header               map[string]string
	ok                   bool
}

func TestValidateResponse(t *testing.T) {
	v := newV(t)
	j, p := "application/json", "application/problem+json"
	problem := func(status int, code string) string {
		return `{"type":"about:blank","title":"t","status":` + jsonInt(status) + `,"detail":"d","code":"` + code + `"}`
	}
	cases := []respCase{
		{"signup 201", "POST", "/v1/auth/signup", 201, j, tokensJSON, nil, true},
		{"tokens wrong token_type", "POST", "/v1/auth/login", 200, j, with(tokensJSON, "token_type", "bearer"), nil, false},
		{"tokens missing user", "POST", "/v1/auth/login", 200, j, without(tokensJSON, "user"), nil, false},
		{"refresh 200", "POST", "/v1/auth/refresh", 200, j, tokensJSON, nil, true},
		{"logout 204", "POST", "/v1/auth/logout", 204, "", "", nil, true},
		{"me", "GET", "/v1/me", 200, j, userJSON, nil, true},
		{"me with phone", "GET", "/v1/me", 200, j, with(userJSON, "phone", "+491"), nil, true},
		{"me bad role", "GET", "/v1/me", 200, j, with(userJSON, "role", "root"), nil, false},
		{"me bad created_at", "GET", "/v1/me", 200, j, with(userJSON, "created_at", "yesterday"), nil, false},
		{"me leaks password_hash", "GET", "/v1/me", 200, j, with(userJSON, "password_hash", "x"), nil, false},
		{"create driver 201", "POST", "/v1/users", 201, j, with(userJSON, "role", "driver"), map[string]string{"Location": "/v1/drivers/u1"}, true},
		{"create admin 201 without Location", "POST", "/v1/users", 201, j, with(userJSON, "role", "admin"), nil, true},
		{"drivers", "GET", "/v1/drivers", 200, j, `{"items":[` + driverJSON + `],"next_cursor":"abc"}`, nil, true},
		{"drivers last page", "GET", "/v1/drivers", 200, j, `{"items":[],"next_cursor":null}`, nil, true},
		{"drivers missing next_cursor", "GET", "/v1/drivers", 200, j, `{"items":[]}`, nil, false},
		{"driver", "GET", "/v1/drivers/d1", 200, j, driverJSON, nil, true},
		{"driver no location", "GET", "/v1/drivers/d1", 200, j, with(driverJSON, "last_location", nil), nil, true},
		{"driver location missing at", "GET", "/v1/drivers/d1", 200, j, with(driverJSON, "last_location", map[string]any{"lat": 1, "lng": 2}), nil, false},
		{"driver bad status", "GET", "/v1/drivers/d1", 200, j, with(driverJSON, "status", "asleep"), nil, false},
		{"availability", "PUT", "/v1/drivers/me/availability", 200, j, driverJSON, nil, true},
		{"create order 201", "POST", "/v1/orders", 201, j, orderJSON, map[string]string{"Location": "/v1/orders/o1"}, true},
		{"order", "GET", "/v1/orders/o1", 200, j, orderJSON, nil, true},
		{"order assigned", "GET", "/v1/orders/o1", 200, j, with(with(orderJSON, "driver_id", "d1"), "status", "assigned"), nil, true},
		{"order missing status", "GET", "/v1/orders/o1", 200, j, without(orderJSON, "status"), nil, false},
		{"order teleported", "GET", "/v1/orders/o1", 200, j, with(orderJSON, "status", "teleported"), nil, false},
		{"order version string", "GET", "/v1/orders/o1", 200, j, with(orderJSON, "version", "1"), nil, false},
		{"order bad payment_status", "GET", "/v1/orders/o1", 200, j, with(orderJSON, "payment_status", "free"), nil, false},
		{"order extra field", "GET", "/v1/orders/o1", 200, j, with(orderJSON, "secret", 1), nil, false},
		{"order as problem type", "GET", "/v1/orders/o1", 200, p, orderJSON, nil, false},
		{"orders", "GET", "/v1/orders?status=pending", 200, j, `{"items":[` + orderJSON + `],"next_cursor":null}`, nil, true},
		{"timeline", "GET", "/v1/orders/o1/timeline", 200, j, `{"items":[{"seq":1,"status":"pending","by":{"user_id":"u1","role":"customer"},"metadata":{"event":"order.created"},"at":"` + ts + `"},{"seq":2,"status":"assigned","by":{"user_id":"a1","role":"admin"},"metadata":{"event":"order.assigned","driver_id":"d1","offer_id":"o1:2","offer_expires_at":"` + ts + `"},"at":"` + ts + `"}]}`, nil, true},
		{"timeline metadata without its event", "GET", "/v1/orders/o1/timeline", 200, j, `{"items":[{"seq":1,"status":"pending","by":{"user_id":"u1","role":"customer"},"metadata":{},"at":"` + ts + `"}]}`, nil, false},
		{"timeline metadata missing a field of its event", "GET", "/v1/orders/o1/timeline", 200, j, `{"items":[{"seq":2,"status":"assigned","by":{"user_id":"a1","role":"admin"},"metadata":{"event":"order.assigned","driver_id":"d1"},"at":"` + ts + `"}]}`, nil, false},
		{"timeline metadata with a field of another event", "GET", "/v1/orders/o1/timeline", 200, j, `{"items":[{"seq":1,"status":"pending","by":{"user_id":"u1","role":"customer"},"metadata":{"event":"order.created","driver_id":"d1"},"at":"` + ts + `"}]}`, nil, false},
		{"notifications", "GET", "/v1/notifications", 200, j, `{"items":[` + notificationJSON + `],"next_cursor":null}`, nil, true},
		{"notification of an unknown event", "GET", "/v1/notifications", 200, j, `{"items":[` + with(notificationJSON, "type", "order.teleported") + `],"next_cursor":null}`, nil, false},
		{"notification payload without message", "GET", "/v1/notifications", 200, j, `{"items":[` + with(notificationJSON, "payload", map[string]any{"order_id": "o1", "seq": 3, "status": "picked_up", "by": map[string]any{"user_id": "d1", "role": "driver"}}) + `],"next_cursor":null}`, nil, false},
		{"timeline bad seq", "GET", "/v1/orders/o1/timeline", 200, j, `{"items":[{"seq":"1","status":"pending","by":{"user_id":"u1","role":"customer"},"metadata":{},"at":"` + ts + `"}]}`, nil, false},
		{"assign 200", "POST", "/v1/orders/o1/assign", 200, j, orderJSON, nil, true},
		{"accept 200", "POST", "/v1/orders/o1/accept", 200, j, orderJSON, nil, true},
		{"decline 200", "POST", "/v1/orders/o1/decline", 200, j, orderJSON, nil, true},
		{"status 200", "PUT", "/v1/orders/o1/status", 200, j, orderJSON, nil, true},
		{"orders by day", "GET", "/v1/metrics/orders-by-day?from=2030-01-01&to=2030-01-02", 200, j, `{"series":[{"day":"2030-01-01","created":3,"delivered":2,"cancelled":0,"failed":1}]}`, nil, true},
		{"orders by day bad day", "GET", "/v1/metrics/orders-by-day?from=2030-01-01&to=2030-01-02", 200, j, `{"series":[{"day":"Jan 1","created":3,"delivered":2,"cancelled":0,"failed":1}]}`, nil, false},
		{"delivery times", "GET", "/v1/metrics/delivery-times?from=2030-01-01&to=2030-01-02", 200, j, `{"series":[{"day":"2030-01-01","delivered":2,"mean_s":1250,"p50_s":700,"p90_s":1800,"max_s":1800},{"day":"2030-01-02","delivered":0,"mean_s":null,"p50_s":null,"p90_s":null,"max_s":null}],"histogram":[` + dtHist + `{"le_minutes":null,"count":0}]}`, nil, true},
		{"delivery times day without its times", "GET", "/v1/metrics/delivery-times?from=2030-01-01&to=2030-01-01", 200, j, `{"series":[{"day":"2030-01-01","delivered":0}],"histogram":[` + dtHist + `{"le_minutes":null,"count":0}]}`, nil, false},
		{"delivery times unknown bucket", "GET", "/v1/metrics/delivery-times?from=2030-01-01&to=2030-01-01", 200, j, `{"series":[],"histogram":[` + dtHist + `{"le_minutes":240,"count":0}]}`, nil, false},
		{"delivery times cumulative field", "GET", "/v1/metrics/delivery-times?from=2030-01-01&to=2030-01-01", 200, j, `{"series":[],"histogram":[` + dtHist + `{"le_minutes":null,"count":0,"cumulative":2}]}`, nil, false},
		{"delivery times without histogram", "GET", "/v1/metrics/delivery-times?from=2030-01-01&to=2030-01-01", 200, j, `{"series":[]}`, nil, false},
		{"openapi.json", "GET", "/v1/openapi.json", 200, j, string(openapi.Document()), nil, true},
		{"healthz", "GET", "/healthz", 200, j, `{"status":"ok"}`, nil, true},
		{"readyz ok", "GET", "/readyz", 200, j, `{"status":"ok","checks":{"postgres":"ok","nats":"ok"}}`, nil, true},
		{"readyz 503", "GET", "/readyz", 503, j, `{"status":"unavailable","checks":{"postgres":"dial tcp: connection refused"}}`, nil, true},
		{"readyz bad status", "GET", "/readyz", 200, j, `{"status":"meh","checks":{}}`, nil, false},
		{"metrics", "GET", "/metrics", 200, "text/plain; version=0.0.4; charset=utf-8", "# HELP x y\nx 1\n", nil, true},
		// Problems.
		{"problem 404", "GET", "/v1/orders/o1", 404, p, problem(404, "not_found"), nil, true},
		{"problem with field errors", "POST", "/v1/orders", 422, p, `{"type":"https://outrider.dev/problems/validation","title":"Invalid","status":422,"code":"validation_failed","instance":"/v1/orders","errors":[{"field":"pickup.address","message":"required"}]}`, nil, true},
		{"problem without code", "GET", "/v1/orders/o1", 404, p, without(problem(404, "not_found"), "code"), nil, false},
		{"problem unknown code", "GET", "/v1/orders/o1", 404, p, problem(404, "oops"), nil, false},
		{"problem as application/json", "GET", "/v1/orders/o1", 404, j, problem(404, "not_found"), nil, false},
		{"problem 409", "POST", "/v1/orders/o1/assign", 409, p, problem(409, "order_already_assigned"), nil, true},
		{"problem 429 with Retry-After", "POST", "/v1/orders", 429, p, problem(429, "rate_limited"), map[string]string{"Retry-After": "3"}, true},
		{"problem 429 without Retry-After", "POST", "/v1/orders", 429, p, problem(429, "rate_limited"), nil, false},
		{"problem 500", "GET", "/v1/me", 500, p, problem(500, "internal"), nil, true},
		{"problem 405 is no answer of GET /healthz", "GET", "/healthz", 405, p, problem(405, "method_not_allowed"), nil, false},
		{"problem 411 on a blob upload", "PUT", "/v1/blobs/k.png", 411, p, problem(411, "length_required"), nil, true},
		{"problem 400 with a 422 code", "POST", "/v1/orders", 400, p, problem(400, "validation_failed"), nil, false},
		{"problem 409 with a 422 code", "POST", "/v1/orders/o1/assign", 409, p, problem(409, "driver_not_found"), nil, false},
		{"ws handshake refused in plain text", "GET", "/v1/ws", 403, "text/plain; charset=utf-8", "Forbidden\n", nil, true},
		{"readyz 503 as a problem", "GET", "/readyz", 503, p, problem(503, "unavailable"), nil, false},
		{"problem 401", "GET", "/v1/me", 401, p, problem(401, "token_expired"), nil, true},
		{"problem status differs from HTTP status", "GET", "/v1/me", 401, p, problem(403, "forbidden"), nil, false},
		{"problem 429 bad Retry-After", "POST", "/v1/orders", 429, p, problem(429, "rate_limited"), map[string]string{"Retry-After": "soon"}, false},
		{"undocumented status as JSON", "GET", "/v1/orders/o1", 418, j, orderJSON, nil, false},
		{"body without content type", "GET", "/v1/orders/o1", 200, "", orderJSON, nil, false},
		{"content type with charset", "GET", "/v1/orders/o1", 200, j + "; charset=utf-8", orderJSON, nil, true},
		{"logout 204 with a body", "POST", "/v1/auth/logout", 204, j, `{"x":1}`, nil, false},
		{"metrics bare text/plain", "GET", "/metrics", 200, "text/plain", "x 1\n", nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, c.target, nil)
			h := http.Header{}
			if c.ctype != "" {
				h.Set("Content-Type", c.ctype)
			}
			for k, val := range c.header {
				h.Set(k, val)
			}
			err := v.ValidateResponse(r, c.status, h, []byte(c.body))
			requireVerdict(t, c.ok, err)
		})
	}
}

func jsonInt(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestUndocumentedStatusIsRefused: an answer under a status its operation
// does not list is refused, however well-formed. (While the document had
// default responses, each of these passed as problem+json.)
func TestUndocumentedStatusIsRefused(t *testing.T) {
	v := newV(t)
	p := http.Header{"Content-Type": {"application/problem+json"}}
	problem := func(status int, code string) []byte {
		return []byte(`{"type":"https://outrider.dev/problems/` + code + `","title":"t","status":` + jsonInt(status) + `,"code":"` + code + `"}`)
	}
	for _, c := range []struct {
		method, target string
		status         int
		code           string
	}{
		{"GET", "/v1/me", 409, "version_conflict"},     // reads no entity state
		{"GET", "/v1/me", 403, "forbidden"},            // every role may call it
		{"GET", "/v1/orders/o1", 403, "forbidden"},     // an order the caller may not see is 404
		{"GET", "/healthz", 401, "unauthorized"},       // public
		{"GET", "/healthz", 405, "method_not_allowed"}, // GET is served; 405 belongs to no operation
		{"POST", "/v1/users", 404, "not_found"},        // names no existing resource
		{"GET", "/v1/drivers", 400, "malformed_json"},  // no body; a bad query is 422
		{"POST", "/v1/orders", 418, "internal"},        // not an HTTP status the API uses
		{"PUT", "/v1/blobs/k.png", 503, "unavailable"}, // the local blob handler has no dependency
		{"POST", "/v1/auth/refresh", 403, "forbidden"}, // public, no roles
		{"GET", "/metrics", 429, "rate_limited"},       // not behind the rate limiter
	} {
		t.Run(fmt.Sprintf("%s %s %d", c.method, c.target, c.status), func(t *testing.T) {
			err := v.ValidateResponse(httptest.NewRequest(c.method, c.target, nil), c.status, p, problem(c.status, c.code))
			requireVerdict(t, false, err)
		})
	}
}

// TestDocumentsThatDoNotListEveryStatusAreRefused: the validator will
// not load a document in which a default response or a status range
// stands in for statuses the operation does not list.
func TestDocumentsThatDoNotListEveryStatusAreRefused(t *testing.T) {
	const head = `{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"responses":`
	for name, responses := range map[string]string{
		"default": `{"200":{"description":"ok"},"default":{"description":"any other"}}`,
		"range":   `{"200":{"description":"ok"},"4XX":{"description":"any client error"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := newValidator([]byte(head + responses + `}}}}`))
			requireVerdict(t, false, err)
		})
	}
	_, err := newValidator([]byte(head + `{"200":{"description":"ok"},"404":{"description":"none"}}}}}}`))
	requireVerdict(t, true, err)
}

// TestConcurrent checks that one Validator serves many goroutines (run with -race).
func TestConcurrent(t *testing.T) {
	v := newV(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				r := httptest.NewRequest("PUT", "/v1/orders/o1/status", strings.NewReader(`{"status":"delivered"}`))
				r.Header.Set("Content-Type", "application/json")
				if err := v.ValidateRequest(r); err != nil {
					t.Error(err)
					return
				}
				g := httptest.NewRequest("GET", "/v1/orders/o1", nil)
				body := orderJSON
				if i%2 == 1 {
					body = with(orderJSON, "status", "teleported")
				}
				err := v.ValidateResponse(g, 200, http.Header{"Content-Type": {"application/json"}}, []byte(body))
				if (err == nil) != (i%2 == 0) {
					t.Errorf("goroutine %d: unexpected result %v", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// requireVerdict fails unless err is nil exactly when ok is set.
func requireVerdict(t *testing.T, ok bool, err error) {
	t.Helper()
	if ok && err != nil {
		t.Fatalf("want valid, got %v", err)
	}
	if !ok && err == nil {
		t.Fatal("want invalid, got nil")
	}
	if err != nil {
		t.Logf("refused as expected: %v", err)
	}
}

// notificationJSON is a notification as GET /v1/notifications lists it.
const notificationJSON = `{"id":"ntf_1","type":"order.status_changed","event_id":"order:o1:3","payload":{"order_id":"o1","seq":3,"status":"picked_up","message":"Your order has been picked up","by":{"user_id":"d1","role":"driver"}},"read":false,"read_at":null,"created_at":"2026-01-02T03:04:05.000Z"}`
