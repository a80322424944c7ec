package httpapi

import (
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
		require.Contains(t, catalogue, c, "actors.%s maps to a code the API does not answer with", name)
		e := rejected(value, "m")
		require.Equal(t, c, e.Code)
		require.Equal(t, "m", e.Detail)
	}
	require.Len(t, rejections, len(declared), "rejections has entries for codes actors does not declare")
	require.Equal(t, problem.Internal, rejected("no_such_code", "m").Code)
}

// TestErrorsAreBuiltByConstructors: Error's Code is a problem.Code, so
// &Error{Code: "typo"} does not compile, but &Error{Code: 99} would (an
// untyped integer constant converts to a uint8) and so would an Error
// without a code; only the constructors in errors.go, which take a
// problem.Code, may build an Error.
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

// TestSharedResponsesAgreeWithCatalogue: each shared problem response of
// the document (components.responses) is used under one status, and its
// code enum and the codes its description names ("(codes a, b)") are
// exactly the catalogue's codes of that status. So a problem is valid
// only under the status package problem answers its code with, and a
// status cannot silently take another status's code (as BadRequest once
// named validation_failed, a 422 code).
func TestSharedResponsesAgreeWithCatalogue(t *testing.T) {
	t.Parallel()
	type content map[string]struct {
		Schema struct {
			Properties struct {
				Code struct {
					Enum []string `json:"enum"`
				} `json:"code"`
			} `json:"properties"`
		} `json:"schema"`
	}
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Responses map[string]struct {
				Description string  `json:"description"`
				Content     content `json:"content"`
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

	// The catalogue's codes by status.
	byStatus := map[string][]string{}
	for _, e := range problem.Entries() {
		if e.Status != 0 {
			s := strconv.Itoa(e.Status)
			byStatus[s] = append(byStatus[s], e.Name)
		}
	}

	listed := regexp.MustCompile(`\(codes? ([a-z_, ]+)\)`)
	checked := 0
	for name, r := range doc.Components.Responses {
		pj, ok := r.Content["application/problem+json"]
		if !ok {
			continue // not a problem (the WebSocket upgrader's plain-text refusals)
		}
		require.Len(t, usedAs[name], 1, "response %s must be used under exactly one status, is under %v", name, usedAs[name])
		var status string
		for s := range usedAs[name] {
			status = s
		}
		want := byStatus[status]
		require.NotEmpty(t, want, "response %s is used as %s, a status no code of the catalogue has", name, status)
		require.ElementsMatch(t, want, pj.Schema.Properties.Code.Enum, "response %s (used as %s): its code enum", name, status)
		m := listed.FindAllStringSubmatch(r.Description, -1)
		require.Len(t, m, 1, "response %s: its description names its codes once, as (code x) or (codes x, y)", name)
		require.ElementsMatch(t, want, strings.Split(m[0][1], ", "), "response %s (used as %s): the codes its description names", name, status)
		checked++
	}
	require.Greater(t, checked, 10)
}

// TestWriteErrorBytes pins what writeError puts on the wire: status,
// headers and body bytes, for a refusal with field errors, one with
// Retry-After, a code the API does not answer with and an error that is
// not an *Error (both internal, without their text).
func TestWriteErrorBytes(t *testing.T) {
	t.Parallel()
	s := newTableServer(t)
	s.log = slog.New(slog.DiscardHandler)
	cases := []struct {
		name   string
		err    error
		status int
		header http.Header
		body   string
	}{
		{"fields", invalid(problem.FieldError{Field: "pickup.lat", Message: "must be between -90 and 90"},
			problem.FieldError{Field: "notes", Message: "must be at most 2000 characters"}),
			422, http.Header{"Content-Type": {"application/problem+json"}, "Cache-Control": {"no-store"}},
			`{"type":"https://outrider.dev/problems/validation_failed","title":"Validation failed","status":422,` +
				`"detail":"the request is not valid","code":"validation_failed","instance":"/v1/orders",` +
				`"errors":[{"field":"pickup.lat","message":"must be between -90 and 90"},{"field":"notes","message":"must be at most 2000 characters"}]}` + "\n"},
		{"one field", invalid(problem.FieldError{Field: "limit", Message: "must be an integer from 1 to 200"}),
			422, http.Header{"Content-Type": {"application/problem+json"}, "Cache-Control": {"no-store"}},
			`{"type":"https://outrider.dev/problems/validation_failed","title":"Validation failed","status":422,` +
				`"detail":"limit: must be an integer from 1 to 200","code":"validation_failed","instance":"/v1/orders",` +
				`"errors":[{"field":"limit","message":"must be an integer from 1 to 200"}]}` + "\n"},
		{"retry after", newError(problem.Unavailable, "a dependency is unavailable; retry shortly").retryAfter(1).because(errors.New("db down")),
			503, http.Header{"Content-Type": {"application/problem+json"}, "Cache-Control": {"no-store"}, "Retry-After": {"1"}},
			`{"type":"https://outrider.dev/problems/unavailable","title":"Service unavailable","status":503,` +
				`"detail":"a dependency is unavailable; retry shortly","code":"unavailable","instance":"/v1/orders"}` + "\n"},
		{"code outside the API", errorf(problem.LengthRequired, "send Content-Length"),
			500, http.Header{"Content-Type": {"application/problem+json"}, "Cache-Control": {"no-store"}},
			`{"type":"https://outrider.dev/problems/internal","title":"Internal error","status":500,` +
				`"detail":"send Content-Length","code":"internal","instance":"/v1/orders"}` + "\n"},
		{"not an *Error", errors.New("secret cause"),
			500, http.Header{"Content-Type": {"application/problem+json"}, "Cache-Control": {"no-store"}},
			`{"type":"https://outrider.dev/problems/internal","title":"Internal error","status":500,` +
				`"detail":"an internal error occurred","code":"internal","instance":"/v1/orders"}` + "\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.writeError(rec, httptest.NewRequest(http.MethodPost, "/v1/orders", nil), tc.err)
			require.Equal(t, tc.status, rec.Code)
			require.Equal(t, tc.header, rec.Header())
			require.Equal(t, tc.body, rec.Body.String())
		})
	}
}
