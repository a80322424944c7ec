package httpapi

import (
	"context"
	"encoding/base64"
	"net/http"
	"sort"
	"time"

	"github.com/gorilla/websocket"

	"github.com/outrider/outrider/problem"
	"github.com/outrider/outrider/transport/http/openapi"
)

// Cursors are opaque to clients: the last id of a page, base64url-encoded
// with a version prefix so the format can change.
func encodeCursor(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + lastID))
}

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 4 || string(b[:3]) != "v1:" || !idPattern.Match(b[3:]) {
		return "", invalid(FieldError{"cursor", "is not a cursor this API issued"})
	}
	return string(b[3:]), nil
}

// maxMetricDays bounds one orders-by-day query.
const maxMetricDays = 366

func (s *Server) ordersByDay(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	tz := q.Get("tz")
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "Local" {
		return invalid(FieldError{"tz", "must be an IANA time zone such as Europe/Berlin"})
	}
	today := s.now().In(loc).Format(time.DateOnly)
	from, to := q.Get("from"), q.Get("to")
	if to == "" {
		to = today
	}
	toDay, err := time.Parse(time.DateOnly, to)
	if err != nil {
		return invalid(FieldError{"to", "must be a date YYYY-MM-DD"})
	}
	if from == "" {
		from = toDay.AddDate(0, 0, -29).Format(time.DateOnly)
	}
	fromDay, err := time.Parse(time.DateOnly, from)
	if err != nil {
		return invalid(FieldError{"from", "must be a date YYYY-MM-DD"})
	}
	if toDay.Before(fromDay) {
		return invalid(FieldError{"from", "must not be after to"})
	}
	if toDay.Sub(fromDay) > maxMetricDays*24*time.Hour {
		return invalid(FieldError{"from", "the range is at most 366 days"})
	}
	days, err := s.store.OrdersByDay(r.Context(), from, to, tz)
	if err != nil {
		return unavailable(err)
	}
	type day struct {
		Day       string `json:"day"`
		Created   int    `json:"created"`
		Delivered int    `json:"delivered"`
		Cancelled int    `json:"cancelled"`
		Failed    int    `json:"failed"`
	}
	series := make([]day, 0, len(days))
	for _, d := range days {
		series = append(series, day{d.Day, d.Created, d.Delivered, d.Cancelled, d.Failed})
	}
	writeJSON(w, http.StatusOK, map[string]any{"series": series})
	return nil
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request, c *call) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openapi.Document())
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, c *call) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz runs every readiness check with a short deadline; any failure
// answers 503 naming it.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	ok := true
	names := make([]string, 0, len(s.ready))
	for name := range s.ready {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := s.ready[name](ctx); err != nil {
			checks[name] = err.Error()
			ok = false
		} else {
			checks[name] = "ok"
		}
	}
	status, code := "ok", http.StatusOK
	if !ok {
		status, code = "unavailable", http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": checks})
	return nil
}

// websocket hands an authenticated upgrade to the realtime gateway.
func (s *Server) websocket(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.realtime == nil {
		return errorf(problem.Unavailable, "realtime is not enabled on this node")
	}
	if !websocket.IsWebSocketUpgrade(r) {
		return errorf(problem.UpgradeRequired, "GET /v1/ws must be a WebSocket upgrade")
	}
	s.realtime.Serve(w, r, c.principal.UserID, c.principal.Role, c.principal.IssuedAt)
	return nil
}
