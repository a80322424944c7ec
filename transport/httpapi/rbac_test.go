package httpapi_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/persistence/blob"
	"github.com/outrider/outrider/transport/httpapi"
	"github.com/outrider/outrider/wire"
)

// rbacFixture is what the recipes below fill routes from.
type rbacFixture struct {
	node     *app.Node
	api      *e2e.API
	customer *e2e.Caller
	driver   *e2e.Caller
	order    wire.Order // the customer's, pending, not assigned
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

// rbacRecipes says how to call each route so that a caller the policy
// allows gets past authorisation (an answer that is neither 401 nor 403).
// Ids name an existing resource or a well-formed one that does not exist,
// whichever keeps object-level checks (which may answer 403, e.g. accept
// by a driver who is not the order's) out of the way. A route with no
// recipe fails the test: add one when you add a route.
var rbacRecipes = map[string]func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall{
	"POST /v1/auth/signup": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		email := e2e.UniqueEmail("rbac")
		return rbacCall{"/v1/auth/signup", map[string]string{"name": "R", "email": email, "password": "grape-lantern-42"}, nil}
	},
	"POST /v1/auth/login": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/auth/login", map[string]string{"email": fx.customer.User.Email, "password": fx.customer.Password}, nil}
	},
	"POST /v1/auth/refresh": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		fresh := fx.api.Login(t, fx.customer.User.Email, fx.customer.Password)
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
	"PATCH /v1/users/:id": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/users/" + e2e.NonexistentID("usr"), map[string]string{"phone": "+1 555"}, nil}
	},
	"DELETE /v1/users/:id": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/users/" + e2e.NonexistentID("usr"), nil, nil} // an admin: 404
	},
	"GET /v1/users/:id/export": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/v1/users/me/export", nil, nil}
	},
	"GET /v1/users": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/v1/users?role=driver&limit=5", nil, nil}
	},
	"GET /v1/drivers": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall { return rbacCall{"/v1/drivers?limit=5", nil, nil} },
	"GET /v1/drivers/nearby": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/v1/drivers/nearby?lat=52.52&lng=13.405&radius_m=1000&limit=5&available=true", nil, nil}
	},
	"GET /v1/drivers/:id": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/drivers/me", nil, nil} // a driver: 200; an admin has no record: 404
	},
	"PUT /v1/drivers/:id/availability": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/drivers/me/availability", map[string]bool{"available": true}, nil}
	},
	"POST /v1/orders": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders", e2e.ValidOrder(), nil}
	},
	"GET /v1/orders": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall { return rbacCall{"/v1/orders?limit=5", nil, nil} },
	"GET /v1/orders/:id": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + fx.order.ID, nil, nil} // owner, admin: 200; driver: 404
	},
	"GET /v1/orders/:id/timeline": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + fx.order.ID + "/timeline", nil, nil}
	},
	"GET /v1/orders/:id/track": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + fx.order.ID + "/track", nil, nil}
	},
	"POST /v1/orders/:id/assign": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + e2e.NonexistentID("ord") + "/assign", map[string]string{"driver_id": fx.driver.User.ID}, nil}
	},
	"POST /v1/orders/:id/unassign": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + e2e.NonexistentID("ord") + "/unassign", map[string]string{"reason": "stuck"}, nil}
	},
	"PUT /v1/orders/:id/payment": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + e2e.NonexistentID("ord") + "/payment", map[string]string{"status": "paid"}, nil}
	},
	"POST /v1/orders/:id/dispatch": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + e2e.NonexistentID("ord") + "/dispatch", nil, nil}
	},
	"GET /v1/orders/:id/dispatch": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + fx.order.ID + "/dispatch", nil, nil}
	},
	"PATCH /v1/drivers/:id": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/drivers/" + fx.driver.User.ID, map[string]int{"capacity": 1}, nil}
	},
	"POST /v1/orders/:id/accept": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + e2e.NonexistentID("ord") + "/accept", nil, nil}
	},
	"POST /v1/orders/:id/decline": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + e2e.NonexistentID("ord") + "/decline", map[string]string{"reason": "too far"}, nil}
	},
	"PUT /v1/orders/:id/status": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + e2e.NonexistentID("ord") + "/status", map[string]string{"status": "cancelled"}, nil}
	},
	"GET /v1/metrics/orders-by-day": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/v1/metrics/orders-by-day?from=2025-01-01&to=2025-01-07&tz=Europe/Berlin", nil, nil}
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
	"GET /v1/orders/:id/proofs": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + fx.order.ID + "/proofs", nil, nil} // owner, admin: 200; driver: 404
	},
	"POST /v1/orders/:id/proofs": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/orders/" + e2e.NonexistentID("ord") + "/proofs", map[string]string{"key": "proofs/x"}, nil}
	},
	"POST /v1/uploads/presign": func(t *testing.T, fx *rbacFixture, who *e2e.Caller) rbacCall {
		return rbacCall{"/v1/uploads/presign", map[string]any{"order_id": e2e.NonexistentID("ord"),
			"content_type": "image/png", "content_length": 10}, nil}
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
	"POST /v1/notifications/:id/read": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/v1/notifications/" + e2e.NonexistentID("ntf") + "/read", nil, nil} // 404
	},
	"POST /v1/webhooks": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/v1/webhooks", map[string]any{"url": "https://example.test/hook", "event_types": []string{"*"}}, nil}
	},
	"GET /v1/webhooks": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall { return rbacCall{"/v1/webhooks", nil, nil} },
	"GET /v1/webhooks/:id": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/v1/webhooks/" + e2e.NonexistentID("whk"), nil, nil}
	},
	"PATCH /v1/webhooks/:id": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/v1/webhooks/" + e2e.NonexistentID("whk"), map[string]any{"enabled": true}, nil}
	},
	"DELETE /v1/webhooks/:id": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/v1/webhooks/" + e2e.NonexistentID("whk"), nil, nil}
	},
	"GET /v1/webhooks/:id/deliveries": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall {
		return rbacCall{"/v1/webhooks/" + e2e.NonexistentID("whk") + "/deliveries", nil, nil}
	},
	"GET /v1/openapi.json": func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall { return rbacCall{"/v1/openapi.json", nil, nil} },
	"GET /healthz":         func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall { return rbacCall{"/healthz", nil, nil} },
	"GET /readyz":          func(*testing.T, *rbacFixture, *e2e.Caller) rbacCall { return rbacCall{"/readyz", nil, nil} },
}

// TestRBAC walks every registered route × every kind of caller: anonymous
// callers get 401 unauthorized on non-public routes, roles outside the
// route's policy get 403 forbidden, and allowed callers get past both.
//
// It boots a whole node, as the tests in e2e/api do, but stays here: the
// route table and its policies are unexported, and only this package's
// test binary sees them (RoutesForTest, routes_internal_test.go).
func TestRBAC(t *testing.T) {
	n, a := e2e.Up(t, nil)
	fx := &rbacFixture{node: n, api: a, customer: a.Signup(t), driver: a.CreateDriver(t, 0, false)}
	fx.order = fx.customer.CreateOrder(t)
	fx.spare = map[string]*e2e.Caller{"customer": a.Signup(t), "driver": a.CreateUser(t, "driver"), "admin": a.CreateUser(t, "admin")}

	routes := httpapi.RoutesForTest(t)
	require.NotEmpty(t, routes)
	// Who may call the issue-14 account routes, written here rather than
	// read from the route table, so a wrong policy there is red (DESIGN.md
	// §3's "who"; anyone: public).
	independent := map[string][]string{
		"DELETE /v1/users/:id":                 {"admin"},
		"PATCH /v1/users/:id":                  {"admin"},
		"POST /v1/auth/password-reset":         {"anyone"},
		"POST /v1/auth/password-reset/confirm": {"anyone"},
		"GET /v1/users/:id/export":             {"customer", "driver", "admin"},
	}
	for _, r := range routes {
		want, ok := independent[r.Method+" "+r.Path]
		if !ok {
			continue
		}
		got := r.Roles
		if r.Public {
			got = []string{"anyone"}
		}
		require.ElementsMatch(t, want, got, "%s %s: its policy", r.Method, r.Path)
		delete(independent, r.Method+" "+r.Path)
	}
	require.Empty(t, independent, "routes of the independent policy that are not registered")
	var names []string
	for _, r := range routes {
		names = append(names, r.Method+" "+r.Path)
	}
	for name := range rbacRecipes {
		require.Contains(t, names, name, "recipe for a route that is not registered")
	}

	callers := []struct {
		role string // "" is anonymous
		c    *e2e.Caller
	}{{"", a.Anon()}, {"customer", fx.customer}, {"driver", fx.driver}, {"admin", a.Admin}}

	for _, r := range routes {
		name := r.Method + " " + r.Path
		t.Run(strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
			t.Parallel()
			require.True(t, r.Public || len(r.Roles) > 0, "%s has no policy", name)
			recipe, ok := rbacRecipes[name]
			require.True(t, ok, "no RBAC recipe for %s: add one to rbacRecipes", name)
			for _, who := range callers {
				call := recipe(t, fx, who.c)
				resp := who.c.Do(t, r.Method, call.path, call.body, call.opts...)
				label := who.role
				if label == "" {
					label = "anonymous"
				}
				switch {
				case r.Public || slices.Contains(r.Roles, who.role):
					require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, resp.Status,
						"%s as %s (allowed): %s", name, label, resp)
					require.Less(t, resp.Status, 500, "%s as %s: %s", name, label, resp)
				case who.role == "":
					resp.Problem(t, http.StatusUnauthorized, "unauthorized")
				default:
					resp.Problem(t, http.StatusForbidden, "forbidden")
				}
			}
		})
	}
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
