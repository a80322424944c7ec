package httpapi

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/outrider/outrider/problem"
)

// Text the API stores must be valid UTF-8 without the NUL character:
// Postgres refuses NUL in text (SQLSTATE 22021), and Go's JSON decoder
// would silently turn invalid UTF-8 into U+FFFD. Both are refused at the
// edge, 422 validation_failed, before any actor is asked.

// nulEscape is how a NUL can reach a decoded JSON string: a raw NUL byte
// is not valid JSON text, so only the escape carries one.
var nulEscape = []byte(`\u0000`)

// checkBodyText refuses a JSON body that is not valid UTF-8 or that has
// a string (a key or a value) holding NUL. It runs on the raw body, so it
// holds for every route whatever its request type.
func checkBodyText(body []byte) error {
	if !utf8.Valid(body) {
		return invalid(problem.FieldError{Field: "(body)", Message: "must be valid UTF-8"})
	}
	if !bytes.Contains(body, nulEscape) {
		return nil // the common case: no escape that could be a NUL
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	field := "(body)"
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // malformed JSON is decode's to report
		}
		s, ok := tok.(string)
		if !ok {
			continue
		}
		if strings.ContainsRune(s, 0) {
			return invalid(problem.FieldError{Field: field, Message: "must not contain the NUL character (U+0000)"})
		}
		field = s // a key names the value after it; good enough for a message
	}
}

// checkQueryText refuses a query string whose names or values are not
// valid UTF-8 or hold NUL.
func checkQueryText(q url.Values) error {
	for name, vs := range q {
		for _, v := range append([]string{name}, vs...) {
			if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
				return invalid(problem.FieldError{Field: name, Message: "must be valid UTF-8 without the NUL character"})
			}
		}
	}
	return nil
}
