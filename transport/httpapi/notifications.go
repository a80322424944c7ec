package httpapi

import (
	"errors"
	"net/http"

	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/problem"
	"github.com/outrider/outrider/wire"
)

// Notifications: what the worker told each user (worker/notify.go). A
// user only ever sees and marks their own; another user's notification
// is not found.

func (s *Server) listNotifications(w http.ResponseWriter, r *http.Request, c *call) error {
	limit, after, err := paging(r)
	if err != nil {
		return err
	}
	f := persistence.NotificationFilter{UserID: c.principal.UserID, Limit: limit, After: after}
	switch r.URL.Query().Get("unread") {
	case "", "false":
	case "true":
		f.UnreadOnly = true
	default:
		return invalid(problem.FieldError{Field: "unread", Message: "must be true or false"})
	}
	ns, more, err := s.store.ListNotifications(r.Context(), f)
	if err != nil {
		return unavailable(err)
	}
	out := wire.Page[persistence.Notification]{Items: ns}
	if out.Items == nil {
		out.Items = []persistence.Notification{}
	}
	if more && len(ns) > 0 {
		cur := encodeCursor(ns[len(ns)-1].ID)
		out.NextCursor = &cur
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// markNotification serves POST /v1/notifications/:id, whose only value of
// :id is "read-all" (httprouter cannot route a literal segment beside
// :id/read).
func (s *Server) markNotification(w http.ResponseWriter, r *http.Request, c *call) error {
	if c.params.ByName("id") != "read-all" {
		return errorf(problem.NotFound, "no such route")
	}
	n, err := s.store.MarkAllNotificationsRead(r.Context(), c.principal.UserID, s.now())
	if err != nil {
		return unavailable(err)
	}
	writeJSON(w, http.StatusOK, map[string]int{"marked": n})
	return nil
}

func (s *Server) readNotification(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := c.id("ntf")
	if err != nil {
		return err
	}
	err = s.store.MarkNotificationRead(r.Context(), c.principal.UserID, id, s.now())
	if errors.Is(err, persistence.ErrNotFound) {
		return errorf(problem.NotFound, "no such notification %s", id)
	}
	if err != nil {
		return unavailable(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
