package httpapi

import (
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/julienschmidt/httprouter"
	"github.com/stretchr/testify/require"
)

// ServedRoutesForTest lists, as "METHOD /pattern", every route a Server
// built by New serves, read from its router itself rather than from the
// route table: a route mounted on the router directly (GET /metrics) is
// listed, and so is a route a parameter route hands on (handleLiteral).
// The RBAC test (rbac_test.go) holds an expected policy for each.
func ServedRoutesForTest(t testing.TB) []string {
	t.Helper()
	s := newTableServer(t)
	served := routerRoutes(t, s.router)
	for name := range s.literals {
		served = append(served, name)
	}
	sort.Strings(served)
	require.Equal(t, len(served), len(slices.Compact(slices.Clone(served))), "a route listed twice: %v", served)
	return served
}

// routerRoutes walks httprouter's per-method trees (unexported: read by
// reflection, so a new httprouter version that renames them fails here
// rather than hiding routes). A route's pattern is the concatenation of
// the node paths from the root to a node holding a handle.
func routerRoutes(t testing.TB, r *httprouter.Router) []string {
	t.Helper()
	trees := reflect.ValueOf(r).Elem().FieldByName("trees")
	require.Equal(t, reflect.Map, trees.Kind(), "httprouter.Router.trees is gone: update routerRoutes for this httprouter")
	var out []string
	for it := trees.MapRange(); it.Next(); {
		method := it.Key().String()
		var walk func(n reflect.Value, prefix string)
		walk = func(n reflect.Value, prefix string) {
			if n.IsNil() {
				return
			}
			n = n.Elem()
			path, handle, children := n.FieldByName("path"), n.FieldByName("handle"), n.FieldByName("children")
			require.True(t, path.IsValid() && handle.IsValid() && children.IsValid(),
				"httprouter's node has no path, handle or children: update routerRoutes for this httprouter")
			full := prefix + path.String()
			if !handle.IsNil() {
				// The pattern itself must route to a handle: proof that the
				// walk put the pattern together as the router reads it.
				h, _, _ := r.Lookup(method, full)
				require.NotNil(t, h, "the walk made %s %s, which the router does not route", method, full)
				out = append(out, method+" "+full)
			}
			for i := range children.Len() {
				walk(children.Index(i), full)
			}
		}
		walk(it.Value(), "")
	}
	require.NotEmpty(t, out, "the walk found no routes")
	return out
}
