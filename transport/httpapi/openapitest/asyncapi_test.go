package openapitest

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/outrider/outrider/transport/httpapi/openapi"
)

var (
	framesOnce sync.Once
	framesV    *Frames
	framesErr  error
)

func newFramesV(t *testing.T) *Frames {
	t.Helper()
	framesOnce.Do(func() { framesV, framesErr = NewFrames() })
	if framesErr != nil {
		t.Fatalf("NewFrames: %v", framesErr)
	}
	return framesV
}

func TestAsyncAPIDocumentIsAsyncAPI3(t *testing.T) {
	t.Parallel()
	if err := ValidateAsyncAPI(openapi.AsyncAPI()); err != nil {
		t.Fatal(err)
	}
	newFramesV(t)
}

// The meta-schema check is no formality: documents it must refuse.
func TestBrokenAsyncAPIDocumentsAreRefused(t *testing.T) {
	t.Parallel()
	cases := map[string]func(d map[string]any){
		"version 2.6.0": func(d map[string]any) { d["asyncapi"] = "2.6.0" },
		"no info":       func(d map[string]any) { delete(d, "info") },
		"action publish": func(d map[string]any) {
			d["operations"].(map[string]any)["receivePing"].(map[string]any)["action"] = "publish"
		},
		"channel with an unknown member": func(d map[string]any) {
			d["channels"].(map[string]any)["order"].(map[string]any)["subscribe"] = map[string]any{}
		},
		"message without payload shape": func(d map[string]any) {
			d["components"].(map[string]any)["messages"].(map[string]any)["ping"].(map[string]any)["payload"] = "PingFrame"
		},
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var d map[string]any
			if err := json.Unmarshal(openapi.AsyncAPI(), &d); err != nil {
				t.Fatal(err)
			}
			breakIt(d)
			b, _ := json.Marshal(d)
			if err := ValidateAsyncAPI(b); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

const (
	at      = "2026-01-02T03:04:05.000Z"
	orderJS = `{"id":"o1","customer_id":"u1","driver_id":"d1","pickup":{"address":"A","lat":52.5,"lng":13.4},"dropoff":{"address":"B"},"delivery_option":"standard","scheduled_for":null,"payment_status":"unpaid","status":"assigned","notes":"","version":2,"offer_expires_at":"` + at + `","created_at":"` + at + `","updated_at":"` + at + `"}`
)

func TestFrames(t *testing.T) {
	t.Parallel()
	f := newFramesV(t)
	client := []struct {
		frame string
		msg   string // "" = refused
	}{
		{`{"type":"subscribe","channel":"order:o1","since":3,"id":"c1"}`, "subscribe"},
		{`{"type":"subscribe","channel":"fleet"}`, "subscribe"},
		{`{"type":"subscribe","channel":"order:o1","since":-1}`, ""},
		{`{"type":"subscribe"}`, ""},
		{`{"type":"unsubscribe","channel":"order:o1"}`, "unsubscribe"},
		{`{"type":"location","lat":52.5,"lng":13.4,"speed":3,"ts":1767322800000,"id":"f1"}`, "clientLocation"},
		{`{"type":"location","lat":52.5,"lng":13.4,"ts":"` + at + `"}`, "clientLocation"},
		{`{"type":"location","lat":91,"lng":13.4,"ts":1}`, ""},
		{`{"type":"location","lat":52.5,"lng":13.4,"ts":"yesterday"}`, ""},
		{`{"type":"ping"}`, "ping"},
		{`{"type":"ping","x":1}`, ""},
		{`{"type":"accept","order_id":"o1","id":"a1"}`, "accept"},
		{`{"type":"decline","order_id":"o1"}`, "decline"},
		{`{"type":"decline"}`, ""},
		{`{"type":"shout"}`, ""},
	}
	for _, c := range client {
		name, err := f.Client([]byte(c.frame))
		if c.msg == "" {
			if err == nil {
				t.Errorf("client %s: want refused, got %s", c.frame, name)
			}
			continue
		}
		if err != nil || name != c.msg {
			t.Errorf("client %s: want %s, got %q, %v", c.frame, c.msg, name, err)
		}
	}
	server := []struct {
		frame string
		msgs  []string // nil = refused
	}{
		{`{"type":"ack","id":"c1"}`, []string{"ack"}},
		{`{"type":"ack"}`, []string{"ack"}},
		{`{"type":"error","id":"c1","code":"not_found","message":"no such order"}`, []string{"error"}},
		{`{"type":"error","channel":"order:o1","code":"forbidden","message":"m"}`, []string{"error"}},
		{`{"type":"error","code":"teapot","message":"m"}`, nil},
		{`{"type":"pong"}`, []string{"pong"}},
		{`{"type":"location","channel":"order:o1","driver_id":"d1","lat":1,"lng":2,"heading":90,"ts":"` + at + `"}`, []string{"location"}},
		{`{"type":"location","channel":"fleet","driver_id":"d1","lat":1,"lng":2,"ts":"` + at + `"}`, []string{"location"}},
		{`{"type":"location","channel":"user:u1","driver_id":"d1","lat":1,"lng":2,"ts":"` + at + `"}`, nil},
		{`{"type":"driver","channel":"fleet","driver_id":"d1","status":"available","available":true,"capacity":2,"active_orders":0}`, []string{"driver"}},
		{`{"type":"driver","channel":"fleet","driver_id":"d1","status":"available","available":true,"capacity":2,"active_orders":0,"lat":1,"lng":2,"at":"` + at + `"}`, []string{"driver"}},
		{`{"type":"driver","channel":"fleet","driver_id":"d1","status":"available","available":true,"capacity":2,"active_orders":0,"lat":1}`, nil},
		{`{"type":"event","channel":"order:o1","seq":2,"event":"order.assigned","data":{"order":` + orderJS + `,"by":{"user_id":"a1","role":"admin"}},"at":"` + at + `"}`, []string{"orderAssigned"}},
		{`{"type":"event","channel":"order:o1","seq":2,"event":"order.assigned","data":{"order":` + orderJS + `},"at":"` + at + `"}`, nil},
		{`{"type":"event","channel":"order:o1","seq":2,"event":"order.teleported","data":{"order":` + orderJS + `,"by":{"user_id":"a1","role":"admin"}},"at":"` + at + `"}`, nil},
		{`{"type":"event","channel":"user:d1","seq":0,"event":"job.offered","data":{"id":"j1","event":"job.offered","driver_id":"d1","order_id":"o1","offer_id":"o1:2","expires_at":"` + at + `","pickup":{"address":"A"},"dropoff":{"address":"B"},"distance_m":120.5,"at":"` + at + `"},"at":"` + at + `"}`, []string{"jobOffered"}},
		{`{"type":"event","channel":"user:d1","seq":0,"event":"job.withdrawn","data":{"id":"j2","event":"job.withdrawn","driver_id":"d1","order_id":"o1","offer_id":"","reason":"cancelled","at":"` + at + `"},"at":"` + at + `"}`, []string{"jobWithdrawn"}},
		{`{"type":"event","channel":"user:d1","seq":0,"event":"job.withdrawn","data":{"id":"j2","event":"job.withdrawn","driver_id":"d1","order_id":"o1","offer_id":"","reason":"bored","at":"` + at + `"},"at":"` + at + `"}`, nil},
		{`{"type":"event","channel":"user:u1","seq":0,"event":"notification.created","data":` + notificationJSON + `,"at":"` + at + `"}`, []string{"notificationCreated"}},
		{`[{"type":"pong"},{"type":"ack","id":"c1"}]`, []string{"batch", "pong", "ack"}},
		{`[{"type":"pong"}]`, nil},
		{`[{"type":"pong"},{"type":"shout"}]`, nil},
	}
	for _, c := range server {
		got, err := f.Server([]byte(c.frame))
		if c.msgs == nil {
			if err == nil {
				t.Errorf("server %s: want refused, got %v", c.frame, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.msgs) {
			t.Errorf("server %s: want %v, got %v, %v", c.frame, c.msgs, got, err)
		}
	}
}

// The document's close codes are the gateway's (transport/ws/closecodes.go).
func TestCloseCodesAreTheGateways(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, filepath.Join("..", "..", "ws", "closecodes.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var gateway []int
	ast.Inspect(file, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && strings.HasPrefix(vs.Names[0].Name, "Close") {
			lit := vs.Values[0].(*ast.BasicLit)
			v, _ := strconv.Atoi(lit.Value)
			gateway = append(gateway, v)
		}
		return true
	})
	var doc struct {
		Components struct {
			Schemas struct {
				CloseCode struct {
					Enum []int `json:"enum"`
				} `json:"CloseCode"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapi.AsyncAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	slices.Sort(gateway)
	documented := slices.Sorted(slices.Values(doc.Components.Schemas.CloseCode.Enum))
	if len(gateway) < 5 || !slices.Equal(gateway, documented) {
		t.Fatalf("closecodes.go has %v, the CloseCode schema %v", gateway, documented)
	}
}

// The document's error codes are those the gateway sends in error frames
// (every problem.X of transport/ws outside the upgrade's refusals), and
// the codes an accept or decline may be refused with by the order
// (actors/order's decideAccept and decideDecline, through Decide).
func TestErrorCodesAreTheGateways(t *testing.T) {
	t.Parallel()
	names := catalogueNames(t)
	sent := map[string]bool{"invalid_transition": true, "offer_expired": true}
	files, err := filepath.Glob(filepath.Join("..", "..", "ws", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if cl, ok := n.(*ast.CompositeLit); ok {
				if id, ok := cl.Type.(*ast.Ident); ok && id.Name == "refusal" {
					return false // an HTTP answer to the upgrade, no frame
				}
			}
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "problem" {
					if name, ok := names[sel.Sel.Name]; ok {
						sent[name] = true
					}
				}
			}
			return true
		})
	}
	gateway := slices.Sorted(func(yield func(string) bool) {
		for k := range sent {
			if !yield(k) {
				return
			}
		}
	})
	documented := slices.Sorted(slices.Values(newFramesV(t).ErrorCodes()))
	if len(gateway) < 8 || !slices.Equal(gateway, documented) {
		t.Fatalf("transport/ws sends %v, the ErrorCode schema lists %v", gateway, documented)
	}
}

// catalogueNames maps the identifiers of package problem's codes to their
// names on the wire, read from its catalogue.
func catalogueNames(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, filepath.Join("..", "..", "..", "problem", "problem.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	ast.Inspect(file, func(n ast.Node) bool {
		kv, ok := n.(*ast.KeyValueExpr)
		if !ok {
			return true
		}
		key, ok := kv.Key.(*ast.Ident)
		entry, ok2 := kv.Value.(*ast.CompositeLit)
		if !ok || !ok2 || len(entry.Elts) < 2 {
			return true
		}
		if lit, ok := entry.Elts[1].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			out[key.Name], _ = strconv.Unquote(lit.Value)
		}
		return true
	})
	if len(out) < 20 {
		t.Fatalf("read %d codes from problem.go's catalogue", len(out))
	}
	return out
}

// The client frames the document describes are those the gateway reads:
// the types of transport/ws's knownType, and the fields of its
// clientFrame, each taken by some client frame of the document.
func TestClientFramesAreTheGateways(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, filepath.Join("..", "..", "ws", "session.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var types, fields []string
	ast.Inspect(file, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncDecl:
			if n.Name.Name == "knownType" {
				ast.Inspect(n.Body, func(n ast.Node) bool {
					if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						types = append(types, s)
					}
					return true
				})
			}
		case *ast.TypeSpec:
			if st, ok := n.Type.(*ast.StructType); ok && n.Name.Name == "clientFrame" {
				for _, f := range st.Fields.List {
					if f.Tag == nil {
						continue
					}
					tag, _ := strconv.Unquote(f.Tag.Value)
					name, _, _ := strings.Cut(reflectTag(tag, "json"), ",")
					fields = append(fields, name)
				}
			}
		}
		return true
	})
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				OneOf []struct {
					Ref string `json:"$ref"`
				} `json:"oneOf"`
				Properties map[string]struct {
					Const any `json:"const"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapi.Document(), &doc); err != nil {
		t.Fatal(err)
	}
	var docTypes []string
	docFields := map[string]bool{}
	for _, v := range doc.Components.Schemas["ClientFrame"].OneOf {
		s := doc.Components.Schemas[strings.TrimPrefix(v.Ref, "#/components/schemas/")]
		c, _ := s.Properties["type"].Const.(string)
		docTypes = append(docTypes, c)
		for p := range s.Properties {
			docFields[p] = true
		}
	}
	slices.Sort(types)
	slices.Sort(docTypes)
	const fix = "; describe it in openapi.json's ClientFrame (and asyncapi.skeleton.json), then `go generate ./transport/httpapi/openapi`"
	if len(types) < 6 || !slices.Equal(types, docTypes) {
		t.Errorf("transport/ws reads the frame types %v, openapi.json's ClientFrame has %v"+fix, types, docTypes)
	}
	if len(fields) < 6 {
		t.Fatalf("read %d fields of clientFrame", len(fields))
	}
	for _, f := range fields {
		if !docFields[f] {
			t.Errorf("transport/ws's clientFrame takes %q, no client frame of the document does"+fix, f)
		}
	}
}

// reflectTag is reflect.StructTag.Get on a tag read from source.
func reflectTag(tag, key string) string { return reflect.StructTag(tag).Get(key) }
