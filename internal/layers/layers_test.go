// Package layers holds no code, only the test of Outrider's import rules.
// Start at the tables: layers places every package of the module in a
// layer and says what the layer may not import, everywhere holds for every
// package, and TestBinaries checks what each binary links. The rules are
// checked against `go list`, the build's own view, in the default build and
// in the image's (`-tags kubernetes`, no cgo).
//
// Dependencies point inward: transport → cluster → actors/host → the pure
// domain (actors, actors/order, actors/driver, actors/user); persistence
// implements the contracts the actors declare; cmd wires it all and
// nothing imports cmd. The rules bind the code that ships: test files and
// test-only helper packages (a name ending in "test", or e2e) may reach
// across layers to set things up, except where a row says Tests.
package layers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const module = "github.com/outrider/outrider"

// A layer is a set of packages and the imports they may not have.
// Patterns are import paths, `X/...` meaning X and everything under it;
// one starting with "./" is a package of this module ("./cmd/..." is
// github.com/outrider/outrider/cmd/...). A package obeys every row that
// names it, and every non-test package is named by at least one row.
type layer struct {
	Name string
	Pkgs []string
	// Not: imports forbidden to the layer's packages.
	Not []string
	// Only, if set: the layer's packages import nothing outside the
	// standard library but these (Not still applies to the standard library).
	Only []string
	// Tests: the rules hold for the packages' _test.go files too (test
	// libraries such as testify and the package itself aside).
	Tests bool
	Why   string
}

var (
	domain = []string{"./actors", "./actors/order/...", "./actors/driver/...", "./actors/user/..."}
	// persistenceInternals are the backends behind the persistence and
	// blob contracts; app alone chooses one.
	persistenceInternals = []string{
		"./persistence/postgres/...", "./persistence/sqlite/...", "./persistence/migrations/...",
		"./persistence/blob/local/...", "./persistence/blob/s3/...",
		"github.com/jackc/pgx/...", "modernc.org/sqlite/...", "database/sql/...",
		"github.com/pressly/goose/...",
	}
	protoActor = "github.com/asynkron/protoactor-go/..."
	// outside is the standard library that talks to the world.
	outside = []string{"net", "net/http/...", "net/rpc/...", "net/smtp", "database/sql/...", "os/exec", "syscall"}
)

var layers = []layer{{
	Name:  "domain",
	Pkgs:  domain,
	Only:  append(slices.Clone(domain), "./proto/outriderpb", "./wire", "google.golang.org/protobuf/..."),
	Not:   outside,
	Tests: true,
	Why: "the pure state machines and the contracts they declare import no HTTP, no SQL driver and no Proto.Actor, " +
		"and are tested without them (STYLE.md, The house)",
}, {
	Name: "leaves",
	Pkgs: []string{"./proto/outriderpb", "./problem", "./transport/httpapi/openapi", "./internal/promreg", "./internal/backoff", "./internal/password", "./internal/gopool", "./internal/tracing",
		"./persistence/migrations", "./wire", "./dispatch/geo"},
	Not: []string{"./..."},
	Why: "generated protobuf, the error catalogue, the wire contract, the geo index, embedded documents and small helpers every layer may use import nothing of ours",
}, {
	Name: "actor host",
	Pkgs: []string{"./actors/host/..."},
	Not: append([]string{"./cluster/...", "./transport/...", "./persistence/...", "./worker/...", "net/http/..."},
		persistenceInternals...),
	Why: "actors/host runs the state machines as Proto.Actor actors; it reaches storage only through " +
		"the actors.Store contract, which persistence implements, and is called through cluster",
}, {
	Name: "cluster",
	Pkgs: []string{"./cluster/..."},
	Not:  append([]string{"./transport/...", "./persistence/...", "./worker/..."}, persistenceInternals...),
	Why:  "transport → cluster → actors: the cluster knows the actors, not who calls it nor where state is stored",
}, {
	Name: "persistence",
	Pkgs: []string{"./persistence/..."},
	Not:  []string{"./actors/host/...", "./cluster/...", "./transport/...", "./worker/...", protoActor},
	Why:  "persistence implements contracts the actors declare (actors.Store, persistence.Backend, blob.Store); it knows nothing of the runtime or its callers",
}, {
	Name: "transport",
	Pkgs: []string{"./transport/..."},
	Not:  append([]string{"./actors/host/...", protoActor}, persistenceInternals...),
	Why: "transport reaches actors through cluster's typed client and state through the persistence and blob " +
		"contracts; which backend runs is app's choice, and Proto.Actor stays behind cluster",
}, {
	Name: "worker",
	Pkgs: []string{"./worker/..."},
	Not:  append([]string{"./actors/host/...", "./transport/...", protoActor}, persistenceInternals...),
	Why:  "the worker consumes events and writes through the persistence and blob contracts",
}, {
	Name: "dispatch",
	Pkgs: []string{"./dispatch/..."},
	Not:  append([]string{"./transport/...", "./cluster/...", "./cmd/...", protoActor}, persistenceInternals...),
	Why: "dispatch ranks drivers and offers orders over the domain (actors, wire, problem, internal helpers); " +
		"it is called by the cluster and transports, not the other way, and knows no storage backend nor Proto.Actor",
}, {
	Name: "process harness",
	Pkgs: []string{"./internal/fleet/..."},
	Not:  []string{"./..."},
	Why:  "internal/fleet drives `outrider serve` processes from outside, as an operator would: it imports nothing of ours",
}, {
	Name: "commands",
	Pkgs: []string{"./cmd/..."},
	Why:  "cmd parses configuration and wires every layer; it may import all of them",
}}

// A rule holds for every non-test package but those in Except.
type rule struct {
	Not    []string
	Except []string
	Why    string
}

var everywhere = []rule{{
	Not:    []string{"./cmd/..."},
	Except: []string{"./cmd/..."},
	Why:    "cmd wires the binaries; nothing outside it depends on the wiring",
}, {
	Not: []string{"testing/..."},
	Why: "package testing belongs in tests and test-only helpers (name the package *test if it is one)",
}}

// isHelper reports whether the package is a test-only helper: it may
// import testing and cmd, and nothing but tests and other helpers may
// import it.
func isHelper(path string) bool {
	return strings.HasSuffix(path, "test") || slices.Contains(strings.Split(path, "/"), "e2e")
}

// TestLayers checks every package's imports against layers and everywhere.
func TestLayers(t *testing.T) {
	t.Parallel()
	for _, b := range builds {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			pkgs := b.pkgs(t)
			checkTable(t, pkgs)
			for _, p := range pkgs {
				if p.helper || len(p.GoFiles) == 0 {
					continue
				}
				check := func(imports []string, files []string, test bool) {
					for _, imp := range imports {
						for _, why := range violations(p, imp, test) {
							t.Errorf("%s imports %s: %s", where(p, files, imp), imp, why)
						}
					}
				}
				check(p.Imports, p.GoFiles, false)
				check(p.TestImports, p.TestGoFiles, true)
				check(p.XTestImports, p.XTestGoFiles, true)
			}
		})
	}
}

// violations says which rules p breaks by importing imp (from a test file if test).
func violations(p *pkg, imp string, test bool) []string {
	var out []string
	if !test && isHelper(imp) && match(imp, "./...") {
		out = append(out, "a test-only helper, which only tests and other helpers may import")
	}
	for _, l := range layers {
		if !matchAny(p.ImportPath, l.Pkgs) || (test && !l.Tests) {
			continue
		}
		if matchAny(imp, l.Not) {
			out = append(out, fmt.Sprintf("the %s layer may not import it: %s", l.Name, l.Why))
		} else if l.Only != nil && !isStd(imp) && !matchAny(imp, l.Only) &&
			!(test && (imp == p.ImportPath || matchAny(imp, testLibs))) {
			out = append(out, fmt.Sprintf("the %s layer imports nothing outside the standard library but %s: %s",
				l.Name, strings.Join(l.Only, ", "), l.Why))
		}
	}
	if !test {
		for _, r := range everywhere {
			if matchAny(imp, r.Not) && !matchAny(p.ImportPath, r.Except) {
				out = append(out, r.Why)
			}
		}
	}
	return out
}

// testLibs may be imported by any test.
var testLibs = []string{"github.com/stretchr/testify/...", "go.uber.org/goleak"}

// checkTable fails when the table no longer describes the module: a
// package in no layer, or a layer pattern that names no package.
func checkTable(t *testing.T, pkgs []*pkg) {
	t.Helper()
	var patterns []string
	for _, l := range layers {
		patterns = append(patterns, l.Pkgs...)
	}
	for _, r := range everywhere {
		patterns = append(patterns, r.Except...)
	}
	used := map[string]bool{}
	for _, p := range pkgs {
		placed := false
		for _, l := range layers {
			for _, pat := range l.Pkgs {
				if match(p.ImportPath, pat) {
					placed, used[pat] = true, true
				}
			}
		}
		for _, pat := range patterns {
			if match(p.ImportPath, pat) {
				used[pat] = true
			}
		}
		if !placed && !p.helper && len(p.GoFiles) > 0 {
			t.Errorf("%s is in no layer: add it to a row of the layers table in internal/layers", p.ImportPath)
		}
	}
	for _, pat := range patterns {
		if !used[pat] {
			t.Errorf("the layers table names %s, which matches no package: update the table", pat)
		}
	}
}

// TestBinaries checks what each command links: no test-only helper, no
// package testing, no package of another command, and for the node's
// binary not the process harness either.
func TestBinaries(t *testing.T) {
	t.Parallel()
	for _, b := range builds {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			mains := 0
			for _, p := range b.pkgs(t) {
				if p.Name != "main" {
					continue
				}
				mains++
				cmdDir := strings.TrimPrefix(p.ImportPath, module+"/") // cmd/outrider
				for _, d := range p.Deps {
					var why string
					switch {
					case match(d, "testing/..."):
						why = "package testing belongs in tests"
					case isHelper(d) && match(d, "./..."):
						why = "a test-only helper"
					case match(d, "./cmd/...") && !match(d, "./"+cmdDir+"/..."):
						why = "a package of another command"
					case p.ImportPath == module+"/cmd/outrider" && match(d, "./internal/fleet/..."):
						why = "the process harness of the tests and the chaos harness"
					default:
						continue
					}
					t.Errorf("%s links %s (%s): %s", p.ImportPath, d, why, importChain(p, d, b))
				}
			}
			if mains == 0 {
				t.Fatal("go list found no main package")
			}
		})
	}
}

// importChain shows how main reaches dep, for the failure message.
func importChain(main *pkg, dep string, b build) string {
	out, err := b.goList("-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", main.ImportPath)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	importers := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		for _, imp := range f[1:] {
			importers[imp] = append(importers[imp], f[0])
		}
	}
	// Walk back from dep to main, breadth first.
	prev := map[string]string{dep: ""}
	queue := []string{dep}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == main.ImportPath {
			chain := []string{cur}
			for c := prev[cur]; c != ""; c = prev[c] {
				chain = append(chain, c)
			}
			return strings.Join(chain, " → ")
		}
		for _, up := range importers[cur] {
			if _, seen := prev[up]; !seen {
				prev[up] = cur
				queue = append(queue, up)
			}
		}
	}
	return "(no import chain found)"
}

// A build is one configuration the module is built in; list runs
// `go list -json` over the module once.
type build struct {
	name  string
	flags []string
	env   []string
	list  func() ([]*pkg, error)
}

var builds = []build{
	newBuild("default", nil, nil),
	// The Dockerfile's build of the image.
	newBuild("kubernetes", []string{"-tags", "kubernetes"}, []string{"CGO_ENABLED=0"}),
}

func newBuild(name string, flags, env []string) build {
	b := build{name: name, flags: flags, env: env}
	b.list = sync.OnceValues(func() ([]*pkg, error) {
		out, err := b.goList("-json", module+"/...")
		if err != nil {
			return nil, err
		}
		var pkgs []*pkg
		for dec := json.NewDecoder(bytes.NewReader(out)); dec.More(); {
			p := new(pkg)
			if err := dec.Decode(p); err != nil {
				return nil, fmt.Errorf("decode go list: %w", err)
			}
			p.helper = isHelper(p.ImportPath)
			p.GoFiles = append(p.GoFiles, p.CgoFiles...)
			pkgs = append(pkgs, p)
		}
		if len(pkgs) == 0 {
			return nil, fmt.Errorf("go list found no packages")
		}
		return pkgs, nil
	})
	return b
}

// goList runs `go list` with the build's flags and environment.
func (b build) goList(args ...string) ([]byte, error) {
	cmd := exec.Command("go", append(append([]string{"list"}, b.flags...), args...)...)
	cmd.Env = append(os.Environ(), b.env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.Bytes())
	}
	return out, nil
}

// pkgs is the build's packages, or the test fails.
func (b build) pkgs(t *testing.T) []*pkg {
	t.Helper()
	pkgs, err := b.list()
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// pkg is what `go list -json` says of one package of the module.
type pkg struct {
	ImportPath, Name, Dir                        string
	GoFiles, CgoFiles, TestGoFiles, XTestGoFiles []string
	Imports, TestImports, XTestImports, Deps     []string
	helper                                       bool
}

// where names the files of p that import imp, relative to the module.
func where(p *pkg, files []string, imp string) string {
	var found []string
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.ImportsOnly)
		if err != nil {
			continue
		}
		for _, s := range f.Imports {
			if path, _ := strconv.Unquote(s.Path.Value); path == imp {
				found = append(found, strings.TrimPrefix(p.ImportPath, module+"/")+"/"+name)
			}
		}
	}
	if len(found) == 0 {
		return p.ImportPath
	}
	return strings.Join(found, ", ")
}

func matchAny(path string, patterns []string) bool {
	return slices.ContainsFunc(patterns, func(pat string) bool { return match(path, pat) })
}

// match reports whether the import path matches pat (see layer).
func match(path, pat string) bool {
	if rest, ok := strings.CutPrefix(pat, "./"); ok {
		pat = module + "/" + rest
	}
	if base, ok := strings.CutSuffix(pat, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pat
}

// isStd reports whether path is in the standard library: its first
// element has no dot (module paths need one).
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}
