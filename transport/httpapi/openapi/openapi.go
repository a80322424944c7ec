// Package openapi embeds Outrider's OpenAPI 3.1 document, served at
// GET /v1/openapi.json. The validator the tests check traffic with is in
// transport/httpapi/openapitest, so the node's binary does not carry it.
package openapi

import (
	"bytes"
	_ "embed"
)

//go:embed openapi.json
var document []byte

// Document returns a copy of the embedded OpenAPI 3.1 document (JSON).
func Document() []byte {
	return bytes.Clone(document)
}
