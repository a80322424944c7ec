package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The committed asyncapi.json is what the generator makes of the
// committed skeleton and openapi.json.
func TestCommittedDocumentIsGenerated(t *testing.T) {
	want, err := Build(read(t, "asyncapi.skeleton.json"), read(t, "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(read(t, "asyncapi.json"), want) {
		t.Fatal("transport/httpapi/openapi/asyncapi.json is not what asyncapi.skeleton.json and openapi.json make: " +
			"run `go generate ./transport/httpapi/openapi` and commit the result")
	}
}

// Every schema a message points at, and every schema those point at, is
// copied, as openapi.json has it (but for the discriminator's spelling);
// no other schema is.
func TestBuildCopiesWhatIsReferenced(t *testing.T) {
	skeleton := `{"asyncapi":"3.0.0","components":{"schemas":{},"messages":{"m":{"payload":{"$ref":"#/components/schemas/A"}}}}}`
	openapi := `{"components":{"schemas":{
		"Unused":{"type":"string"},
		"B":{"type":"object","properties":{"discriminator":{"type":"string"}}},
		"A":{"oneOf":[{"$ref":"#/components/schemas/B"}],"discriminator":{"propertyName":"kind","mapping":{"b":"#/components/schemas/B"}}}}}}`
	out, err := Build([]byte(skeleton), []byte(openapi))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Components.Schemas) != 2 || doc.Components.Schemas["Unused"] != nil {
		t.Fatalf("want A and B copied, got %s", out)
	}
	compact := func(s string) string {
		var b bytes.Buffer
		if err := json.Compact(&b, []byte(s)); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	if got := compact(string(doc.Components.Schemas["A"])); got != `{"oneOf":[{"$ref":"#/components/schemas/B"}],"discriminator":"kind"}` {
		t.Errorf("A: %s", got)
	}
	if got := compact(string(doc.Components.Schemas["B"])); got != `{"type":"object","properties":{"discriminator":{"type":"string"}}}` {
		t.Errorf("B (a property named discriminator is no keyword): %s", got)
	}
	if !strings.HasPrefix(string(out), "{\n  \"asyncapi\": \"3.0.0\",\n  \"components\"") {
		t.Errorf("the skeleton's order is kept: %s", out)
	}
}

func TestBuildRefuses(t *testing.T) {
	for name, c := range map[string][2]string{
		"a schema openapi.json lacks":     {`{"components":{"schemas":{},"messages":{"m":{"payload":{"$ref":"#/components/schemas/Nope"}}}}}`, `{"components":{"schemas":{}}}`},
		"schemas written in the skeleton": {`{"components":{"schemas":{"A":{}}}}`, `{"components":{"schemas":{"A":{}}}}`},
		"a duplicate key":                 {`{"components":{"schemas":{}},"a":1,"a":2}`, `{"components":{"schemas":{}}}`},
	} {
		if _, err := Build([]byte(c[0]), []byte(c[1])); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}
