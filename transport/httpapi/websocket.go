package httpapi

import (
	"net/http"

	"github.com/gorilla/websocket"

	"github.com/outrider/outrider/problem"
)

// websocket hands an authenticated upgrade to the realtime gateway.
func (s *Server) websocket(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.realtime == nil {
		return errorf(problem.Unavailable, "realtime is not enabled on this node")
	}
	if !websocket.IsWebSocketUpgrade(r) {
		return errorf(problem.UpgradeRequired, "GET /v1/ws must be a WebSocket upgrade")
	}
	s.realtime.Serve(w, r, c.principal.UserID, c.principal.Role, s.clientIP(r), c.principal.IssuedAt)
	return nil
}
