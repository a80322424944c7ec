package httpapi

import (
	"encoding/base64"

	"github.com/outrider/outrider/problem"
)

// Cursors are opaque to clients: the last id of a page, base64url-encoded
// with a version prefix so the format can change.
func encodeCursor(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + lastID))
}

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 4 || string(b[:3]) != "v1:" || !idPattern.Match(b[3:]) {
		return "", invalid(problem.FieldError{Field: "cursor", Message: "is not a cursor this API issued"})
	}
	return string(b[3:]), nil
}
