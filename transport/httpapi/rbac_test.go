package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/persistence/blob"
	"github.com/outrider/outrider/transport/httpapi"
	"github.com/outrider/outrider/wire"
)

// outcome is what the policy owes one caller on one route.
type outcome int

const (
	// pass: past every check of who may call; the answer is none of 401,
	// 403, 404 (nor 405 or 5xx). The recipes name objects that exist, so
	// a 404 here is the policy hiding them, not their absence.
	pass outcome = iota + 1
	// unauth: 401 unauthorized, the route needs a signed-in user.
	unauth
	// forbid: 403 forbidden, the caller's role, or his relation to an
	// object he may know of, may not.
	forbid
	// hidden: 404 not_found, the object is not the caller's to know of
	// (DESIGN.md §3: others' orders are 404, not 403).
	hidden
)

func (o outcome) String() string {
	return map[outcome]string{pass: "allowed", unauth: "401", forbid: "403", hidden: "404"}[o]
}

// rbacWant is what a route owes each kind of caller, on the objects
// rbacRecipes name: the customer's and the driver's are FOREIGN (another
// customer's order, an order offered to another driver, another driver's
// record, another user's account or notification); the admin's exist.
type rbacWant struct{ anonymous, customer, driver, admin outcome }

// rbacPolicy is the expected route × caller matrix, written here from
// DESIGN.md §3's "who" column (README and issue 14 where §3 is silent),
// never read from routes.go: a policy there that opens a route to one
// role too many is red. Every route the router serves has a row and
// every row a served route (TestRBAC checks both before it starts a
// node).
var rbacPolicy = map[string]rbacWant{
	// anyone
	"POST /v1/auth/signup":                 {pass, pass, pass, pass},
	"POST /v1/auth/login":                  {pass, pass, pass, pass},
	"POST /v1/auth/refresh":                {pass, pass, pass, pass},
	"POST /v1/auth/password-reset":         {pass, pass, pass, pass},
	"POST /v1/auth/password-reset/confirm": {pass, pass, pass, pass},
	"GET /v1/openapi.json":                 {pass, pass, pass, pass},
	"GET /v1/asyncapi.json":                {pass, pass, pass, pass},
	// ops: no token (SECURITY.md's known gap 7 for /metrics)
	"GET /healthz": {pass, pass, pass, pass},
	"GET /readyz":  {pass, pass, pass, pass},
	"GET /metrics": {pass, pass, pass, pass},
	// the dispatcher's console: a web app's static files; it signs in
	// through the API
	"GET /console":       {pass, pass, pass, pass},
	"GET /console/*path": {pass, pass, pass, pass},
	// a customer's tracking page: the link's token is the permission, which its API route checks
	"GET /track/*token": {pass, pass, pass, pass},
	// the local blob store's signed URLs: the signature is the
	// authentication (README, SECURITY.md)
	"GET /v1/blobs/*key":  {pass, pass, pass, pass},
	"HEAD /v1/blobs/*key": {pass, pass, pass, pass},
	"PUT /v1/blobs/*key":  {pass, pass, pass, pass},

	// user: any signed-in caller, on his own things
	"POST /v1/auth/logout":       {unauth, pass, pass, pass},
	"GET /v1/me":                 {unauth, pass, pass, pass},
	"PATCH /v1/me":               {unauth, pass, pass, pass},
	"POST /v1/me/password":       {unauth, pass, pass, pass},
	"GET /v1/orders":             {unauth, pass, pass, pass}, // each sees only his own
	"GET /v1/notifications":      {unauth, pass, pass, pass},
	"POST /v1/notifications/:id": {unauth, pass, pass, pass}, // read-all
	"GET /v1/ws":                 {unauth, pass, pass, pass}, // §4
	// another user's notification: nobody's but his, not even an admin's
	"POST /v1/notifications/:id/read": {unauth, hidden, hidden, hidden},
	// admin, or the user himself (issue 14): another's account is 404
	"GET /v1/users/:id/export": {unauth, hidden, hidden, pass},

	// orders: owner, its driver, admin; 404 (not 403) to anyone else
	"POST /v1/orders":             {unauth, pass, forbid, pass},
	"GET /v1/orders/:id":          {unauth, hidden, hidden, pass},
	"GET /v1/orders/:id/timeline": {unauth, hidden, hidden, pass},
	"GET /v1/orders/:id/track":    {unauth, hidden, hidden, pass},
	// the tracking link: the order's customer and admins share it (its
	// driver: 403, tested in e2e/api); the link itself works for anyone
	"GET /v1/orders/:id/tracking-link": {unauth, hidden, hidden, pass},
	"GET /v1/track/:token":             {pass, pass, pass, pass},
	"GET /v1/track/:token/events":      {pass, pass, pass, pass},
	"GET /v1/orders/:id/proofs":        {unauth, hidden, hidden, pass},
	"POST /v1/orders/:id/proofs":       {unauth, forbid, hidden, forbid}, // the assigned driver
	"POST /v1/uploads/presign":         {unauth, forbid, hidden, forbid}, // the assigned driver
	"POST /v1/orders/:id/accept":       {unauth, forbid, forbid, forbid}, // the assigned driver; 403 for any other
	"POST /v1/orders/:id/decline":      {unauth, forbid, forbid, forbid},
	"PUT /v1/orders/:id/status":        {unauth, hidden, forbid, pass}, // cancel: the customer or an admin
	"POST /v1/orders/:id/assign":       {unauth, forbid, forbid, pass},
	"POST /v1/orders/:id/unassign":     {unauth, forbid, forbid, pass},
	"POST /v1/orders/:id/dispatch":     {unauth, forbid, forbid, pass},
	"GET /v1/orders/:id/dispatch":      {unauth, forbid, forbid, pass},
	"PUT /v1/orders/:id/payment":       {unauth, forbid, forbid, pass},

	// drivers: admin; a driver his own record only (as "me")
	"GET /v1/drivers":                  {unauth, forbid, forbid, pass},
	"GET /v1/drivers/nearby":           {unauth, forbid, forbid, pass},
	"GET /v1/drivers/:id":              {unauth, forbid, hidden, pass},
	"PATCH /v1/drivers/:id":            {unauth, forbid, forbid, pass},
	"PUT /v1/drivers/:id/availability": {unauth, forbid, hidden, forbid},

	// admin
	"POST /v1/users":                  {unauth, forbid, forbid, pass},
	"GET /v1/users":                   {unauth, forbid, forbid, pass},
	"PATCH /v1/users/:id":             {unauth, forbid, forbid, pass},
	"DELETE /v1/users/:id":            {unauth, forbid, forbid, pass},
	"POST /v1/webhooks":               {unauth, forbid, forbid, pass},
	"GET /v1/webhooks":                {unauth, forbid, forbid, pass},
	"GET /v1/webhooks/:id":            {unauth, forbid, forbid, pass},
	"PATCH /v1/webhooks/:id":          {unauth, forbid, forbid, pass},
	"DELETE /v1/webhooks/:id":         {unauth, forbid, forbid, pass},
	"GET /v1/webhooks/:id/deliveries": {unauth, forbid, forbid, pass},
	"GET /v1/metrics/orders-by-day":   {unauth, forbid, forbid, pass},
	"GET /v1/metrics/delivery-times":  {unauth, forbid, forbid, pass},
	"GET /v1/cluster":                 {unauth, forbid, forbid, pass},
}

// rbacFixture is what the recipes below fill routes from. The callers
// are customer and driver (and the API's admin); the foreign objects
// belong to owner and otherDriver, whom no call is made as.
type rbacFixture struct {
	node     *app.Node
	api      *e2e.API
	customer *e2e.Caller
	driver   *e2e.Caller
	// owner is another customer: his order, account and notification are
	// foreign to customer and driver.
	owner *e2e.Caller
	// otherDriver holds the open offer of order.
	otherDriver *e2e.Caller
	// order is owner's, offered to otherDriver (for long enough to outlast
	// the test): foreign to customer and driver alike.
	order wire.Order
	// idleDriverID is a driver nobody assigns, for PATCH /v1/drivers/:id.
	idleDriverID string
	// notificationID is one of owner's notifications.
	notificationID string
	// webhookID is an endpoint the admin registered.
	webhookID string
	// spare has a user of each role whose tokens a call may revoke
	// (logout revokes every token of its user, which the other calls of
	// that role use in parallel).
	spare map[string]*e2e.Caller
}

// rbacCall is one concrete request for a route.
type rbacCall struct {
	path string
	body any
	opts []e2e.Opt
}

// rbacRecipe says how who calls a route: on a foreign object when who is
// the customer or the driver, on an existing one when the admin.
type rbacRecipe func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall

// rbacRecipes says how to call each route so that the answer tells the
// policy's outcome apart: an allowed caller gets neither 401, 403 nor 404
// (the objects exist), the others get what rbacPolicy says. A served
// route with no recipe fails the test: add one when you add a route.
var rbacRecipes = map[string]rbacRecipe{
	"POST /v1/auth/signup": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		email := e2e.UniqueEmail("rbac")
		return rbacCall{"/v1/auth/signup", map[string]string{"name": "R", "email": email, "password": "grape-lantern-42"}, nil}
	},
	"POST /v1/auth/login": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/auth/login", map[string]string{"email": fx.owner.User.Email, "password": fx.owner.Password}, nil}
	},
	"POST /v1/auth/refresh": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		fresh := fx.api.Login(t, fx.owner.User.Email, fx.owner.Password)
		return rbacCall{"/v1/auth/refresh", map[string]string{"refresh_token": fresh.Refresh}, nil}
	},
	"POST /v1/auth/logout": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		// An unknown token is no error: logout answers 204 regardless. It
		// revokes every token of its user, which the other routes' calls
		// use in parallel: a spare user of the caller's role logs out.
		var opts []e2e.Opt
		if who.Token != "" {
			opts = append(opts, e2e.Header("Authorization", "Bearer "+fx.spare[who.User.Role].Token))
		}
		return rbacCall{"/v1/auth/logout", map[string]string{"refresh_token": "not-a-token-" + e2e.Unique("rt")}, opts}
	},
	"POST /v1/auth/password-reset": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/auth/password-reset", map[string]string{"email": e2e.UniqueEmail("rbac-reset")}, nil}
	},
	"POST /v1/auth/password-reset/confirm": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/auth/password-reset/confirm", map[string]string{"token": "not-a-token", "password": "grape-lantern-42"}, nil} // 422
	},
	"GET /v1/me": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall { return rbacCall{"/v1/me", nil, nil} },
	"PATCH /v1/me": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/v1/me", map[string]string{"phone": "+49 30 5555"}, nil}
	},
	"POST /v1/me/password": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		// A wrong current password (422): a right one would revoke the
		// caller's tokens, which the other routes' calls use in parallel.
		return rbacCall{"/v1/me/password", map[string]string{"current_password": "not-it-" + e2e.Unique("pw"), "new_password": "grape-lantern-42"}, nil}
	},

	"POST /v1/users": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/users", map[string]any{"name": "D", "email": e2e.UniqueEmail("rbac-driver"), "password": "grape-lantern-42", "role": "driver"}, nil}
	},
	"GET /v1/users": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/v1/users?role=driver&limit=5", nil, nil}
	},
	"PATCH /v1/users/:id": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/users/" + fx.owner.User.ID, map[string]string{"phone": "+1 555"}, nil}
	},
	"DELETE /v1/users/:id": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/users/" + fx.newUserID(t), nil, nil} // an admin erases it: 204
	},
	"GET /v1/users/:id/export": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/users/" + fx.owner.User.ID + "/export", nil, nil}
	},

	"GET /v1/drivers": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall { return rbacCall{"/v1/drivers?limit=5", nil, nil} },
	"GET /v1/drivers/nearby": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/v1/drivers/nearby?lat=52.52&lng=13.405&radius_m=1000&limit=5&available=true", nil, nil}
	},
	"GET /v1/drivers/:id": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/drivers/" + fx.otherDriver.User.ID, nil, nil}
	},
	"PATCH /v1/drivers/:id": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/drivers/" + fx.idleDriverID, map[string]int{"capacity": 1}, nil}
	},
	"PUT /v1/drivers/:id/availability": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		// Another driver's: the document has only .../me/availability.
		return rbacCall{"/v1/drivers/" + fx.otherDriver.User.ID + "/availability", map[string]bool{"available": true}, []e2e.Opt{e2e.OffSpec()}}
	},

	"POST /v1/orders": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders", e2e.ValidOrder(), nil}
	},
	"GET /v1/orders": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall { return rbacCall{"/v1/orders?limit=5", nil, nil} },
	"GET /v1/orders/:id": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + fx.order.ID, nil, nil}
	},
	"GET /v1/orders/:id/timeline": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + fx.order.ID + "/timeline", nil, nil}
	},
	"GET /v1/orders/:id/track": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + fx.order.ID + "/track", nil, nil}
	},
	"GET /v1/orders/:id/tracking-link": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + fx.order.ID + "/tracking-link", nil, nil}
	},
	"GET /v1/track/:token": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		var link struct{ Path string }
		fx.api.Admin.Get(t, "/v1/orders/"+fx.order.ID+"/tracking-link").Decode(t, http.StatusOK, &link)
		return rbacCall{link.Path, nil, nil}
	},
	"GET /v1/track/:token/events": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		// An ended order's stream sends its last state and closes.
		o := fx.owner.CreateOrder(t)
		fx.owner.SetStatus(t, o.ID, "cancelled")
		var link struct{ Path string }
		fx.owner.Get(t, "/v1/orders/"+o.ID+"/tracking-link").Decode(t, http.StatusOK, &link)
		return rbacCall{link.Path + "/events", nil, nil}
	},
	"GET /v1/orders/:id/proofs": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + fx.order.ID + "/proofs", nil, nil}
	},
	"POST /v1/orders/:id/proofs": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + fx.order.ID + "/proofs", map[string]string{"key": "proofs/x"}, nil}
	},
	"POST /v1/uploads/presign": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/uploads/presign", map[string]any{"order_id": fx.order.ID,
			"content_type": "image/png", "content_length": 10}, nil}
	},
	"POST /v1/orders/:id/accept": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + fx.order.ID + "/accept", nil, nil}
	},
	"POST /v1/orders/:id/decline": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + fx.order.ID + "/decline", map[string]string{"reason": "too far"}, nil}
	},
	"PUT /v1/orders/:id/status": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		// A fresh order of owner's: an admin cancels it (200).
		return rbacCall{"/v1/orders/" + fx.owner.CreateOrder(t).ID + "/status", map[string]string{"status": "cancelled"}, nil}
	},
	"POST /v1/orders/:id/assign": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		// order is offered already: an admin gets 409, and order stays.
		return rbacCall{"/v1/orders/" + fx.order.ID + "/assign", map[string]string{"driver_id": fx.otherDriver.User.ID}, nil}
	},
	"POST /v1/orders/:id/unassign": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		// A fresh pending order: an admin gets 409, and order stays.
		return rbacCall{"/v1/orders/" + fx.owner.CreateOrder(t).ID + "/unassign", map[string]string{"reason": "stuck"}, nil}
	},
	"POST /v1/orders/:id/dispatch": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + fx.order.ID + "/dispatch", nil, nil} // not pending: an admin gets 409
	},
	"GET /v1/orders/:id/dispatch": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + fx.order.ID + "/dispatch", nil, nil}
	},
	"PUT /v1/orders/:id/payment": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + fx.owner.CreateOrder(t).ID + "/payment", map[string]string{"status": "paid"}, nil}
	},

	"GET /v1/metrics/orders-by-day": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/v1/metrics/orders-by-day?from=2025-01-01&to=2025-01-07&tz=Europe/Berlin", nil, nil}
	},
	"GET /v1/metrics/delivery-times": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/v1/metrics/delivery-times?from=2025-01-01&to=2025-01-07&tz=Europe/Berlin", nil, nil}
	},
	"GET /v1/cluster": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/v1/cluster", nil, nil}
	},
	"GET /v1/ws": func(t *testing.T, _ *rbacFixture, who *e2e.Caller) rbacCall {
		// A real upgrade: allowed callers get 101 (the helper closes the
		// connection at once).
		opts := []e2e.Opt{
			e2e.Header("Connection", "Upgrade"), e2e.Header("Upgrade", "websocket"),
			e2e.Header("Sec-WebSocket-Version", "13"), e2e.Header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
		}
		// The walk may have logged this caller out already, which refuses
		// their earlier tokens on the socket: use a fresh login.
		if who.Password != "" {
			fresh := who.Client.Login(t, who.User.Email, who.Password)
			opts = append(opts, e2e.Header("Authorization", "Bearer "+fresh.Token))
		}
		return rbacCall{"/v1/ws", nil, opts}
	},

	// The blob routes are public: the signature is the authentication.
	// Their keys span path segments, which an OpenAPI path parameter
	// cannot: the validator cannot match them (offSpec).
	"GET /v1/blobs/*key": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{fx.blobURL(t, http.MethodGet), nil, []e2e.Opt{e2e.OffSpec()}}
	},
	"HEAD /v1/blobs/*key": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{fx.blobURL(t, http.MethodGet), nil, []e2e.Opt{e2e.OffSpec()}}
	},
	"PUT /v1/blobs/*key": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{fx.blobURL(t, http.MethodPut), e2e.Raw(pngHeader), []e2e.Opt{e2e.Header("Content-Type", "image/png"), e2e.OffSpec()}}
	},

	"GET /v1/notifications": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/v1/notifications?unread=true", nil, nil}
	},
	"POST /v1/notifications/:id": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/v1/notifications/read-all", nil, nil}
	},
	"POST /v1/notifications/:id/read": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/notifications/" + fx.notificationID + "/read", nil, nil}
	},

	"POST /v1/webhooks": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/v1/webhooks", map[string]any{"url": "https://example.test/hook", "event_types": []string{"*"}}, nil}
	},
	"GET /v1/webhooks": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall { return rbacCall{"/v1/webhooks", nil, nil} },
	"GET /v1/webhooks/:id": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/webhooks/" + fx.webhookID, nil, nil}
	},
	"PATCH /v1/webhooks/:id": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/webhooks/" + fx.webhookID, map[string]any{"enabled": true}, nil}
	},
	"DELETE /v1/webhooks/:id": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/webhooks/" + fx.newWebhookID(t), nil, nil} // an admin deletes it: 204
	},
	"GET /v1/webhooks/:id/deliveries": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/webhooks/" + fx.webhookID + "/deliveries", nil, nil}
	},

	"GET /v1/openapi.json":  func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall { return rbacCall{"/v1/openapi.json", nil, nil} },
	"GET /v1/asyncapi.json": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall { return rbacCall{"/v1/asyncapi.json", nil, nil} },
	"GET /healthz":          func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall { return rbacCall{"/healthz", nil, nil} },
	"GET /readyz":           func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall { return rbacCall{"/readyz", nil, nil} },
	"GET /metrics":          func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall { return rbacCall{"/metrics", nil, nil} },
	"GET /console": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/console", nil, []e2e.Opt{e2e.OffSpec()}}
	},
	"GET /console/*path": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/console/orders", nil, []e2e.Opt{e2e.OffSpec()}}
	},
	"GET /track/*token": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/track/ord_1.x", nil, []e2e.Opt{e2e.OffSpec()}}
	},
}

// TestRBAC walks every route the router serves × every kind of caller and
// holds each answer to rbacPolicy: written in this file, so a route that
// routes.go opens to one role too many is red here.
//
// The routes come from the router itself (ServedRoutesForTest,
// served_routes_internal_test.go), so one mounted outside the route
// table (GET /metrics) is covered too. It boots a whole node, as the
// tests in e2e/api do, but stays here for that list.
func TestRBAC(t *testing.T) {
	served := httpapi.ServedRoutesForTest(t)
	var noRow, noRecipe, notServed []string
	for _, name := range served {
		if _, ok := rbacPolicy[name]; !ok {
			noRow = append(noRow, name)
		}
		if _, ok := rbacRecipes[name]; !ok {
			noRecipe = append(noRecipe, name)
		}
	}
	for name := range rbacPolicy {
		if !slices.Contains(served, name) {
			notServed = append(notServed, name)
		}
	}
	for name := range rbacRecipes {
		if !slices.Contains(served, name) {
			notServed = append(notServed, name)
		}
	}
	require.Empty(t, noRow, "served routes with no row in rbacPolicy: write who may call them (DESIGN.md §3)")
	require.Empty(t, noRecipe, "served routes with no recipe in rbacRecipes")
	require.Empty(t, notServed, "rows of rbacPolicy or rbacRecipes for routes the router does not serve")

	fx := newRBACFixture(t)
	callers := []struct {
		kind string
		c    *e2e.Caller
		want func(rbacWant) outcome
	}{
		{"anonymous", fx.api.Anon(), func(w rbacWant) outcome { return w.anonymous }},
		{"customer", fx.customer, func(w rbacWant) outcome { return w.customer }},
		{"driver", fx.driver, func(w rbacWant) outcome { return w.driver }},
		{"admin", fx.api.Admin, func(w rbacWant) outcome { return w.admin }},
	}
	for _, name := range served {
		method, _, _ := strings.Cut(name, " ")
		policy, recipe := rbacPolicy[name], rbacRecipes[name]
		t.Run(strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
			t.Parallel()
			for _, who := range callers {
				call := recipe(t, fx, who.c)
				resp := who.c.Do(t, method, call.path, call.body, call.opts...)
				requireOutcome(t, who.want(policy), resp, who.kind)
			}
		})
	}
}

// requireOutcome fails t unless resp is the outcome want.
func requireOutcome(t *testing.T, want outcome, resp *e2e.Response, kind string) {
	t.Helper()
	msg := func(what string) string {
		return kind + " " + what + " (policy: " + want.String() + "): " + resp.String()
	}
	switch want {
	case pass:
		require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed},
			resp.Status, msg("is refused"))
		require.Less(t, resp.Status, 500, msg("gets a server error"))
	case unauth:
		require.Equal(t, http.StatusUnauthorized, resp.Status, msg("is not refused 401"))
		resp.Problem(t, http.StatusUnauthorized, "unauthorized")
	case forbid:
		require.Equal(t, http.StatusForbidden, resp.Status, msg("is not refused 403"))
		resp.Problem(t, http.StatusForbidden, "forbidden")
	case hidden:
		require.Equal(t, http.StatusNotFound, resp.Status, msg("is not told 404"))
		p := resp.Problem(t, http.StatusNotFound, "not_found")
		// The router's own 404 (no such route) would prove nothing.
		require.NotContains(t, p.Detail, "route", msg("hits no route"))
	default:
		require.FailNow(t, "no outcome", msg("has no outcome"))
	}
}

// newRBACFixture starts a node and fills it with the callers and the
// foreign objects the recipes name.
func newRBACFixture(t *testing.T) *rbacFixture {
	t.Helper()
	n, a := e2e.Up(t, nil)
	fx := &rbacFixture{node: n, api: a, customer: a.Signup(t), driver: a.CreateDriver(t, 0, false),
		owner: a.Signup(t), otherDriver: a.CreateDriver(t, 0, true)}
	fx.idleDriverID = a.CreateDriver(t, 0, false).User.ID
	fx.spare = map[string]*e2e.Caller{"customer": a.Signup(t), "driver": a.CreateUser(t, "driver"), "admin": a.CreateUser(t, "admin")}

	// owner's order, offered to otherDriver for longer than the test runs.
	fx.order = fx.owner.CreateOrder(t)
	fx.order = a.Admin.OrderAction(t, fx.order.ID, "assign", map[string]any{"driver_id": fx.otherDriver.User.ID, "offer_ttl_s": 1800})
	require.Equal(t, "assigned", fx.order.Status)

	// One of owner's notifications, as the worker would write it.
	fx.notificationID = "ntf_" + ulid.Make().String()
	_, err := n.Store().CreateNotifications(t.Context(), []persistence.Notification{{
		ID: fx.notificationID, UserID: fx.owner.User.ID, Type: "order.created", EventID: e2e.Unique("evt"),
		Payload: json.RawMessage(`{"order_id":"` + fx.order.ID + `","seq":1,"status":"pending","message":"An order was placed for you",` +
			`"by":{"user_id":"` + a.Admin.User.ID + `","role":"admin"}}`), CreatedAt: time.Now()}})
	require.NoError(t, err)

	fx.webhookID = fx.newWebhookID(t)
	return fx
}

// newUserID has the admin create a driver, never logged in, and returns
// his id.
func (fx *rbacFixture) newUserID(t *testing.T) string {
	t.Helper()
	var u wire.User
	fx.api.Admin.Post(t, "/v1/users", map[string]any{"name": "Erasable", "email": e2e.UniqueEmail("rbac-erase"),
		"password": "grape-lantern-42", "role": "driver"}).Decode(t, http.StatusCreated, &u)
	return u.ID
}

// newWebhookID has the admin register a webhook endpoint and returns its id.
func (fx *rbacFixture) newWebhookID(t *testing.T) string {
	t.Helper()
	var w struct {
		ID string `json:"id"`
	}
	fx.api.Admin.Post(t, "/v1/webhooks", map[string]any{"url": "https://example.test/hook", "event_types": []string{"*"}}).
		Decode(t, http.StatusCreated, &w)
	require.NotEmpty(t, w.ID)
	return w.ID
}

// pngHeader is the start of every PNG file.
const pngHeader = "\x89PNG\r\n\x1a\n"

// blobURL is the path and query of a signed URL for a fresh object: a
// download of one that exists, or an upload of pngHeader.
func (fx *rbacFixture) blobURL(t *testing.T, method string) string {
	blobs := fx.node.Blobs()
	require.NotNil(t, blobs)
	key := "rbac/" + e2e.Unique("blob")
	var p blob.Presigned
	var err error
	if method == http.MethodPut {
		p, err = blobs.PresignPut(t.Context(), key, "image/png", int64(len(pngHeader)), time.Minute)
	} else {
		require.NoError(t, blobs.Put(t.Context(), key, "image/png", strings.NewReader(pngHeader), int64(len(pngHeader))))
		p, err = blobs.PresignGet(t.Context(), key, time.Minute)
	}
	require.NoError(t, err)
	u, err := url.Parse(p.URL)
	require.NoError(t, err)
	return u.RequestURI()
}
