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
	if err := checkSurrogates(body); err != nil {
		return err
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

// checkSurrogates refuses a \u escape of a UTF-16 surrogate that is not
// one half of a pair (a high one followed by a low one): Go's decoder
// would store it as U+FFFD. Backslashes appear only inside JSON strings,
// where each starts an escape, so a scan of the raw bytes finds them all.
func checkSurrogates(body []byte) error {
	hex4 := func(b []byte) (rune, bool) {
		if len(b) < 4 {
			return 0, false
		}
		var r rune
		for _, c := range b[:4] {
			switch {
			case c >= '0' && c <= '9':
				r = r<<4 | rune(c-'0')
			case c >= 'a' && c <= 'f':
				r = r<<4 | rune(c-'a'+10)
			case c >= 'A' && c <= 'F':
				r = r<<4 | rune(c-'A'+10)
			default:
				return 0, false
			}
		}
		return r, true
	}
	lone := invalid(problem.FieldError{Field: "(body)", Message: "must not hold a lone UTF-16 surrogate escape (\\ud800–\\udfff)"})
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' || i+1 >= len(body) {
			continue
		}
		if body[i+1] != 'u' {
			i++ // another escape: skip its character
			continue
		}
		r, ok := hex4(body[i+2:])
		if !ok {
			i++
			continue // malformed JSON is decode's to report
		}
		switch {
		case r >= 0xdc00 && r <= 0xdfff:
			return lone // a low half with no high one before it
		case r >= 0xd800 && r <= 0xdbff:
			next := body[i+6:]
			if len(next) < 6 || next[0] != '\\' || next[1] != 'u' {
				return lone
			}
			lo, ok := hex4(next[2:])
			if !ok || lo < 0xdc00 || lo > 0xdfff {
				return lone
			}
			i += 11 // the pair
		default:
			i += 5
		}
	}
	return nil
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
