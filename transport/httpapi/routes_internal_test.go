package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/problem"
	"github.com/outrider/outrider/transport/httpapi/openapi"
)

func newTableServer(t testing.TB) *Server {
	t.Helper()
	s, err := New(Config{JWTSecret: []byte(strings.Repeat("k", 32)), BcryptCost: 4}, Deps{})
	require.NoError(t, err)
	return s
}

// routesOutsideTable are served but not registered through handle (so
// they have no policy entry): /metrics is the Prometheus handler mounted
// directly on the router, public by design for scrapers.
var routesOutsideTable = []string{"GET /metrics"}

// routesOutsideDocument are served outside the table and are no part of
// the API, so openapi.json does not describe them: the dispatcher's
// console (package console), a web app's static files.
var routesOutsideDocument = []string{"GET /console", "GET /console/*path", "GET /track/*token"}

// specAliases maps a document path to the router path serving it where
// the two differ by more than {param} ↔ :param. httprouter cannot mix
// /v1/drivers/me/... with /v1/drivers/:id, so the router serves "me" as a
// value of :id (routes.go). A blob key spans several path segments:
// OpenAPI's {key} is httprouter's catch-all *key.
var specAliases = map[string]string{
	"/v1/drivers/me/availability": "/v1/drivers/:id/availability",
	"/v1/blobs/{key}":             "/v1/blobs/*key",
	"/v1/notifications/read-all":  "/v1/notifications/:id",
}

// TestEveryRouteHasAPolicy: a route is public or names the roles that may
// call it; a route registered with a zero policy would be callable by no
// one (or, worse, read as public by a future refactor).
func TestEveryRouteHasAPolicy(t *testing.T) {
	t.Parallel()
	s := newTableServer(t)
	require.NotEmpty(t, s.routeTable)
	known := []string{"customer", "driver", "admin"}
	seen := map[string]bool{}
	for _, r := range s.routeTable {
		name := r.Method + " " + r.Path
		require.False(t, seen[name], "%s registered twice", name)
		seen[name] = true
		if r.Policy.public {
			require.Empty(t, r.Policy.roles, "%s: a public route names no roles", name)
			continue
		}
		require.NotEmpty(t, r.Policy.roles, "%s has no policy: make it public or name its roles", name)
		require.False(t, r.Policy.authLimited, "%s: only public auth routes are auth-limited", name)
		for _, role := range r.Policy.roles {
			require.Contains(t, known, role, "%s: unknown role %q", name, role)
		}
	}
}

// TestRouteTableMatchesDocument: the routes the server registers and the
// operations the OpenAPI document describes are the same set.
func TestRouteTableMatchesDocument(t *testing.T) {
	t.Parallel()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(openapi.Document(), &doc))
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
			default:
				continue // parameters, summary, ...
			}
			routed := path
			if alias, ok := specAliases[path]; ok {
				routed = alias
			} else {
				routed = strings.NewReplacer("{", ":", "}", "").Replace(path)
			}
			documented = append(documented, strings.ToUpper(method)+" "+routed)
		}
	}
	registered := slices.Clone(routesOutsideTable)
	for _, r := range newTableServer(t).routeTable {
		registered = append(registered, r.Method+" "+r.Path)
	}
	sort.Strings(documented)
	sort.Strings(registered)
	require.Equal(t, documented, registered, "routes.go and openapi.json disagree")

	// The routes outside the table are really served.
	s := newTableServer(t)
	for _, r := range slices.Concat(routesOutsideTable, routesOutsideDocument) {
		method, path, _ := strings.Cut(r, " ")
		h, _, _ := s.router.Lookup(method, path)
		require.NotNil(t, h, "%s is not routed", r)
	}
}

// servedOutsideCatalogue are codes answered under /v1/ by what a handler
// of this package hands the request to, not through writeError: the local
// blob store's handler (persistence/blob/local) behind /v1/blobs/ answers
// an upload without Content-Length with length_required.
var servedOutsideCatalogue = []problem.Code{problem.LengthRequired}

// TestCatalogueCodesAreDocumented: every code the server can answer with
// is in the document's Problem.code enum (or a response carrying it would
// break the contract), and every documented code is one it answers with.
func TestCatalogueCodesAreDocumented(t *testing.T) {
	t.Parallel()
	var doc struct {
		Components struct {
			Schemas struct {
				Problem struct {
					Properties struct {
						Code struct {
							Enum []string `json:"enum"`
						} `json:"code"`
					} `json:"properties"`
				} `json:"Problem"`
			} `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(openapi.Document(), &doc))
	enum := doc.Components.Schemas.Problem.Properties.Code.Enum
	require.NotEmpty(t, enum)
	var codes []string
	for code := range catalogue {
		codes = append(codes, code.String())
		require.GreaterOrEqual(t, code.Status(), 400, code.String())
		require.NotEmpty(t, http.StatusText(code.Status()), code.String())
	}
	for _, c := range servedOutsideCatalogue {
		require.NotContains(t, catalogue, c, "%s is in the catalogue", c)
		codes = append(codes, c.String())
	}
	sort.Strings(codes)
	sort.Strings(enum)
	require.Equal(t, enum, codes, "errors.go catalogue (with servedOutsideCatalogue) and openapi.json Problem.code enum disagree")
}
