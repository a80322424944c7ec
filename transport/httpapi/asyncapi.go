package httpapi

import (
	"net/http"

	"github.com/outrider/outrider/transport/httpapi/openapi"
)

// asyncAPI serves the AsyncAPI 3.0 document of the WebSocket protocol
// (GET /v1/asyncapi.json), public like the OpenAPI document.
func (s *Server) asyncAPI(w http.ResponseWriter, r *http.Request, c *call) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openapi.AsyncAPI())
	return nil
}
