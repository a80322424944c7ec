package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// schemaRef is how both documents point at a schema of their own.
const schemaRef = "#/components/schemas/"

// Build makes the AsyncAPI document: skeleton (channels, operations,
// messages, pointing at #/components/schemas/X) with its
// components.schemas filled by every schema it refers to, and every
// schema those refer to, copied from the OpenAPI document in the order
// openapi lists them. The two documents' schema pointers have the same
// shape, so no reference is rewritten; the one keyword the two dialects
// spell differently is translated (asyncSchema). The skeleton's own
// components.schemas must be empty: the schemas live in openapi.json
// alone.
func Build(skeleton, openapi []byte) ([]byte, error) {
	sk, err := decode(skeleton)
	if err != nil {
		return nil, fmt.Errorf("skeleton: %w", err)
	}
	oa, err := decode(openapi)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	from, ok := walk(oa, "components", "schemas")
	if !ok {
		return nil, errors.New("openapi: no components.schemas")
	}
	into, ok := walk(sk, "components", "schemas")
	if !ok {
		return nil, errors.New("skeleton: no components.schemas")
	}
	if len(into.keys) > 0 {
		return nil, fmt.Errorf("skeleton: components.schemas must be empty (the schemas come from openapi.json), has %v", into.keys)
	}
	want := map[string]bool{}
	var queue []string
	add := func(v any) {
		for _, name := range refs(v) {
			if !want[name] {
				want[name] = true
				queue = append(queue, name)
			}
		}
	}
	add(sk)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		s, ok := from.vals[name]
		if !ok {
			return nil, fmt.Errorf("%s%s: no such schema in openapi.json", schemaRef, name)
		}
		add(s)
	}
	for _, k := range from.keys {
		if want[k] {
			into.set(k, asyncSchema(from.vals[k]))
		}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(sk); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// asyncSchema is OpenAPI schema s in AsyncAPI's dialect: the same JSON
// Schema, except that an AsyncAPI discriminator is the property's name,
// where OpenAPI's is an object {propertyName, mapping} (the mapping is
// implied: each variant holds its value as a const).
func asyncSchema(s any) any {
	switch s := s.(type) {
	case *object:
		out := &object{vals: map[string]any{}}
		for _, k := range s.keys {
			v := s.vals[k]
			switch d, isObj := v.(*object); {
			case k == "discriminator" && isObj:
				out.set(k, d.vals["propertyName"])
			case k == "properties" || k == "patternProperties" || k == "$defs" || k == "dependentSchemas":
				out.set(k, schemaMap(v))
			default:
				out.set(k, asyncSchema(v))
			}
		}
		return out
	case []any:
		out := make([]any, len(s))
		for i, e := range s {
			out[i] = asyncSchema(e)
		}
		return out
	}
	return s
}

// schemaMap translates each schema of a name → schema map (whose names
// are no keywords, "discriminator" included).
func schemaMap(v any) any {
	m, ok := v.(*object)
	if !ok {
		return v
	}
	out := &object{vals: map[string]any{}}
	for _, k := range m.keys {
		out.set(k, asyncSchema(m.vals[k]))
	}
	return out
}

// refs lists the schema names v points at with "$ref".
func refs(v any) []string {
	var out []string
	switch v := v.(type) {
	case *object:
		for _, k := range v.keys {
			if s, ok := v.vals[k].(string); ok && k == "$ref" {
				if name, ok := strings.CutPrefix(s, schemaRef); ok {
					out = append(out, name)
				}
				continue
			}
			out = append(out, refs(v.vals[k])...)
		}
	case []any:
		for _, e := range v {
			out = append(out, refs(e)...)
		}
	}
	return out
}

// walk follows keys from v, an object.
func walk(v any, keys ...string) (*object, bool) {
	for _, k := range keys {
		o, ok := v.(*object)
		if !ok {
			return nil, false
		}
		if v, ok = o.vals[k]; !ok {
			return nil, false
		}
	}
	o, ok := v.(*object)
	return o, ok
}

// object is a JSON object that keeps its members' order, so the
// generated document reads in the order its sources were written.
type object struct {
	keys []string
	vals map[string]any
}

func (o *object) set(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

// MarshalJSON writes the members in order.
func (o *object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := encode(&b, k); err != nil {
			return nil, err
		}
		b.WriteByte(':')
		if err := encode(&b, o.vals[k]); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func encode(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}

// decode reads one JSON document, objects as *object, numbers as
// json.Number (so they are written back as they were).
func decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := value(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the document")
	}
	return v, nil
}

func value(dec *json.Decoder) (any, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t {
	case json.Delim('{'):
		o := &object{vals: map[string]any{}}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k := kt.(string)
			if _, dup := o.vals[k]; dup {
				return nil, fmt.Errorf("duplicate key %q", k)
			}
			v, err := value(dec)
			if err != nil {
				return nil, err
			}
			o.set(k, v)
		}
		_, err := dec.Token() // '}'
		return o, err
	case json.Delim('['):
		a := []any{}
		for dec.More() {
			v, err := value(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := dec.Token() // ']'
		return a, err
	}
	return t, nil
}
