package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"

	"github.com/outrider/outrider/problem"
)

// checkKeys walks a JSON body against the request type t and refuses what
// encoding/json lets through: object keys that match a field only
// case-insensitively ("Notes" for "notes") and keys repeated in one object
// (where the last would silently win). Unknown keys are refused by the
// decoder itself. It assumes data is valid JSON.
func checkKeys(data []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := walkValue(dec, t, ""); err != nil && !errors.Is(err, errMalformed) {
		return err
	}
	return nil
}

// errMalformed stops the walk at input the decoder has already judged.
var errMalformed = errors.New("malformed JSON")

func walkValue(dec *json.Decoder, t reflect.Type, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return errMalformed
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch tok {
	case json.Delim('{'):
		fields := jsonFields(t)
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return errMalformed
			}
			key, _ := kt.(string)
			name := key
			if path != "" {
				name = path + "." + key
			}
			if seen[key] {
				return invalid(problem.FieldError{Field: name, Message: "appears more than once"})
			}
			seen[key] = true
			ft, known := fields[key]
			if t != nil && t.Kind() == reflect.Struct && !known {
				e := errorf(problem.UnknownField, "unknown field %q (names are case-sensitive)", name)
				e.Fields = []problem.FieldError{{Field: name, Message: "is not a field of this request"}}
				return e
			}
			if err := walkValue(dec, ft, name); err != nil {
				return err
			}
		}
		_, _ = dec.Token() // '}'
	case json.Delim('['):
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			et = t.Elem()
		}
		for dec.More() {
			if err := walkValue(dec, et, path+"[]"); err != nil {
				return err
			}
		}
		_, _ = dec.Token() // ']'
	}
	return nil
}

// jsonFields maps a struct's JSON names to their types (nil map for
// non-structs, whose keys are not checked).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			if tag == "-" {
				continue
			}
			if n, _, _ := strings.Cut(tag, ","); n != "" {
				name = n
			}
		}
		out[name] = f.Type
	}
	return out
}
