package kubernetes_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// providerSource is Proto.Actor's kubernetes provider as the image
// compiles it (go.mod replaces the module with this copy).
const providerSource = "../../third_party/protoactor-go/cluster/clusterproviders/k8s"

// providerVerbs reads the provider's source and returns the RBAC verbs
// of its calls on the pods client (…CoreV1().Pods(ns).Get → get), sorted.
// It fails if the provider calls any other resource, so a Role written
// from this list is complete.
func providerVerbs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(providerSource + "/*.go")
	require.NoError(t, err)
	require.NotEmpty(t, files, "no provider source at %s", providerSource)
	verbOf := map[string]string{"Get": "get", "List": "list", "Watch": "watch", "Patch": "patch",
		"Update": "update", "UpdateStatus": "update", "Create": "create", "Delete": "delete", "DeleteCollection": "deletecollection"}
	var verbs []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		require.NoError(t, err)
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			// CoreV1().<Resource>(…): only pods.
			if inner, ok := sel.X.(*ast.CallExpr); ok {
				if s, ok := inner.Fun.(*ast.SelectorExpr); ok && s.Sel.Name == "CoreV1" {
					require.Equal(t, "Pods", sel.Sel.Name, "%s: the provider calls CoreV1().%s; the Role and this test know only pods", fset.Position(call.Pos()), sel.Sel.Name)
				}
				// Pods(…).<Verb>(…)
				if s, ok := inner.Fun.(*ast.SelectorExpr); ok && s.Sel.Name == "Pods" {
					v, ok := verbOf[sel.Sel.Name]
					require.True(t, ok, "%s: Pods().%s has no known RBAC verb", fset.Position(call.Pos()), sel.Sel.Name)
					verbs = append(verbs, v)
				}
			}
			return true
		})
	}
	require.NotEmpty(t, verbs, "found no pods call in %s", providerSource)
	slices.Sort(verbs)
	return slices.Compact(verbs)
}

// TestProviderVerbs pins what the reading finds today, so that a change
// in the provider shows here first: get its own pod, patch its labels,
// watch the cluster's pods. It does not list.
func TestProviderVerbs(t *testing.T) {
	require.Equal(t, []string{"get", "patch", "watch"}, providerVerbs(t))
}
