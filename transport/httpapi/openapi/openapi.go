// Package openapi embeds Outrider's OpenAPI 3.1 document, served at
// GET /v1/openapi.json, and the AsyncAPI 3.0 document of the WebSocket
// protocol, served at GET /v1/asyncapi.json: asyncapi.skeleton.json
// (channels, operations, messages) with the frame schemas of openapi.json,
// put together by `go generate ./transport/httpapi/openapi`. The
// validators the tests check traffic and frames with are in
// transport/httpapi/openapitest, so the node's binary does not carry them.
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

//go:generate go run ./asyncapigen

//go:embed asyncapi.json
var asyncDocument []byte

// AsyncAPI returns a copy of the embedded AsyncAPI 3.0 document of the
// WebSocket protocol (JSON), served at GET /v1/asyncapi.json. Its frame
// schemas are openapi.json's, copied by asyncapigen (go generate).
func AsyncAPI() []byte {
	return bytes.Clone(asyncDocument)
}
