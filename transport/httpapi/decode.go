package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/outrider/outrider/problem"
)

// decode reads the request body as exactly one JSON object into v:
// unknown fields, trailing data, wrong types and bodies over the
// configured limit are refused with a stable code. An empty body decodes
// as {} when allowEmpty is set.
func (s *Server) decode(r *http.Request, v any, allowEmpty bool) error {
	body, err := s.readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if allowEmpty {
			return nil
		}
		return errorf(problem.MalformedJSON, "a JSON request body is required")
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return errorf(problem.UnsupportedMediaType, "send the body as application/json")
		}
	}
	if err := checkBodyText(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return errorf(problem.MalformedJSON, "the body holds more than one JSON value")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf(problem.MalformedJSON, "unexpected data after the JSON object")
	}
	return checkKeys(body, reflect.TypeOf(v))
}

// readBody reads at most MaxBodyBytes; more is body_too_large. The body
// is kept on the request context for idempotency hashing.
func (s *Server) readBody(r *http.Request) ([]byte, error) {
	if b, ok := r.Context().Value(bodyKey{}).([]byte); ok {
		return b, nil
	}
	return readLimited(r, s.cfg.MaxBodyBytes)
}

func readLimited(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, errorf(problem.BodyTooLarge, "the body is %d bytes; the limit is %d", r.ContentLength, limit)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, errorf(problem.MalformedJSON, "could not read the request body")
	}
	if int64(len(b)) > limit {
		return nil, errorf(problem.BodyTooLarge, "the body exceeds the limit of %d bytes", limit)
	}
	return b, nil
}

type bodyKey struct{}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return errorf(problem.MalformedJSON, "malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		return invalid(problem.FieldError{Field: field, Message: fmt.Sprintf("must be %s, not %s", jsonType(typ.Type.Kind().String()), typ.Value)})
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errorf(problem.MalformedJSON, "the JSON body ends early")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		e := errorf(problem.UnknownField, "unknown field %q", name)
		e.Fields = []problem.FieldError{{Field: name, Message: "is not a field of this request"}}
		return e
	}
	return errorf(problem.MalformedJSON, "the body is not valid JSON for this request")
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int32", "int64", "uint", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "slice":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	}
	return kind
}

// writeJSON renders v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
