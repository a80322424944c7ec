package httpapi

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/problem"
	"github.com/outrider/outrider/transport/httpapi/openapi"
)

// parseDir parses the non-test Go files of dir.
func parseDir(t *testing.T, dir string) (*token.FileSet, []*ast.File) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		files = append(files, f)
	}
	require.NotEmpty(t, files, dir)
	return fset, files
}

// TestEveryRejectionCodeMaps: every rejection code package actors declares
// (a constant named Code…, read from its source: the domain does not
// import transport, and constants cannot be listed at run time) maps to a
// code of the API's catalogue with the same name, so the wire carries the
// domain's code; CodeRetry, which the cluster client consumes, maps to
// internal. A new actors.Code… without an entry in rejections fails here
// instead of answering 500 at run time.
func TestEveryRejectionCodeMaps(t *testing.T) {
	t.Parallel()
	_, files := parseDir(t, filepath.Join("..", "..", "actors"))
	declared := map[string]string{} // constant name → value
	for _, f := range files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if !strings.HasPrefix(n.Name, "Code") || !n.IsExported() {
						continue
					}
					require.Less(t, i, len(vs.Values), "actors.%s has no value of its own", n.Name)
					lit, ok := vs.Values[i].(*ast.BasicLit)
					require.True(t, ok && lit.Kind == token.STRING, "actors.%s is not a string literal", n.Name)
					v, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					declared[n.Name] = v
				}
			}
		}
	}
	require.Contains(t, declared, "CodeValidation", "found no rejection codes in package actors")
	for name, value := range declared {
		c, ok := rejections[value]
		require.True(t, ok, "actors.%s (%q) has no entry in rejections (errors.go)", name, value)
		if name == "CodeRetry" {
			require.Equal(t, problem.Internal, c)
			continue
		}
		require.Equal(t, value, c.String(), "actors.%s is answered under another name", name)
		require.Contains(t, catalogue, c.String(), "actors.%s maps to a code the API does not answer with", name)
		e := rejected(value, "m")
		require.Equal(t, value, e.Code)
		require.Equal(t, "m", e.Detail)
	}
	require.Len(t, rejections, len(declared), "rejections has entries for codes actors does not declare")
	require.Equal(t, "internal", rejected("no_such_code", "m").Code)
}

// TestErrorsAreBuiltByConstructors: Error's Code is a string (readers
// compare it with one), so a literal &Error{Code: "typo"} would compile;
// only the constructors in errors.go, which take a problem.Code, may
// build an Error.
func TestErrorsAreBuiltByConstructors(t *testing.T) {
	t.Parallel()
	fset, files := parseDir(t, ".")
	for _, f := range files {
		if filepath.Base(fset.Position(f.Pos()).Filename) == "errors.go" {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if cl, ok := n.(*ast.CompositeLit); ok {
				if id, ok := cl.Type.(*ast.Ident); ok && id.Name == "Error" {
					t.Errorf("%s: builds an Error by hand; use errorf, newError, invalid or rejected", fset.Position(cl.Pos()))
				}
			}
			return true
		})
	}
}

// TestResponseDescriptionsAgreeWithCatalogue: the document's shared error
// responses name their codes in their descriptions ("(codes a, b)",
// "e.g. 405 method_not_allowed"); every code named is in the catalogue,
// and answered with the status under which the paths use that response.
func TestResponseDescriptionsAgreeWithCatalogue(t *testing.T) {
	t.Parallel()
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Responses map[string]struct {
				Description string `json:"description"`
			} `json:"responses"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(openapi.Document(), &doc))

	// The statuses under which the paths refer to each shared response.
	usedAs := map[string]map[string]bool{}
	for _, ops := range doc.Paths {
		for _, raw := range ops {
			var op struct {
				Responses map[string]struct {
					Ref string `json:"$ref"`
				} `json:"responses"`
			}
			if json.Unmarshal(raw, &op) != nil { // "parameters" and the like
				continue
			}
			for status, r := range op.Responses {
				name, ok := strings.CutPrefix(r.Ref, "#/components/responses/")
				if !ok {
					continue
				}
				if usedAs[name] == nil {
					usedAs[name] = map[string]bool{}
				}
				usedAs[name][status] = true
			}
		}
	}

	// The document's BadRequest response names validation_failed, which
	// the API answers with 422 (the Unprocessable response), never 400.
	// The document is out of issue 12's scope (it must not change).
	known := map[string]string{"BadRequest validation_failed": "400"}

	listed := regexp.MustCompile(`\(codes? ([a-z_, ]+)\)`)
	example := regexp.MustCompile(`\b([1-5]\d\d) ([a-z]+(?:_[a-z]+)*)\b`)
	checked := 0
	for name, r := range doc.Components.Responses {
		for _, m := range listed.FindAllStringSubmatch(r.Description, -1) {
			for _, code := range strings.Split(m[1], ", ") {
				e, ok := catalogue[code]
				require.True(t, ok, "response %s names %q, which is not in the catalogue", name, code)
				require.NotEmpty(t, usedAs[name], "response %s is not used", name)
				for status := range usedAs[name] {
					if status == "default" || known[name+" "+code] == status {
						continue
					}
					require.Equal(t, status, strconv.Itoa(e.Status), "response %s (used as %s) names %s", name, status, code)
					checked++
				}
			}
		}
		for _, m := range example.FindAllStringSubmatch(r.Description, -1) {
			e, ok := catalogue[m[2]]
			require.True(t, ok, "response %s names %q, which is not in the catalogue", name, m[2])
			require.Equal(t, m[1], strconv.Itoa(e.Status), "response %s names %s %s", name, m[1], m[2])
			checked++
		}
	}
	require.Greater(t, checked, 10)
}
