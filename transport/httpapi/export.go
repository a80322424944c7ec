package httpapi

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/problem"
	"github.com/outrider/outrider/wire"
)

// Bounds of an export: far above what one account gathers in the
// retention windows, so that an export is whole in practice and bounded
// always (a truncated part says so).
const (
	exportMaxOrders        = 10_000
	exportMaxNotifications = 10_000
	exportMaxFixes         = 200_000
	exportMaxTokens        = 10_000 // refresh tokens, Idempotency-Keys, reset tokens each
)

// userExport is GET /v1/users/:id/export: everything stored about a user
// that names or locates him, and the metadata of his credentials and
// requests — never a secret: no password hash, no token nor its hash, no
// stored answer. Webhooks are not here: they are the operator's, owned by
// no user.
type userExport struct {
	ExportedAt      string                     `json:"exported_at"`
	User            wire.User                  `json:"user"`
	Driver          *wire.Driver               `json:"driver"`
	Orders          []wire.Order               `json:"orders"`
	Notifications   []persistence.Notification `json:"notifications"`
	LocationHistory []wire.TrackPoint          `json:"location_history"`
	// RefreshTokens: when each session's token was made, expires, was
	// used or revoked.
	RefreshTokens []persistence.RefreshTokenInfo `json:"refresh_tokens"`
	// IdempotencyKeys: the keys his writes sent, kept 24 hours.
	IdempotencyKeys []persistence.IdempotencyKeyInfo `json:"idempotency_keys"`
	// PasswordResets: the reset e-mails he asked for.
	PasswordResets []persistence.PasswordResetInfo `json:"password_resets"`
	// LoginFailures: failed logins on his e-mail, in all and per address.
	LoginFailures []loginFailureView `json:"login_failures"`
	// Truncated names the parts cut at their bound.
	Truncated []string `json:"truncated"`
}

// exportUser serves GET /v1/users/:id/export: an admin's export of any
// user, or a user's of himself (":id" may be "me").
func (s *Server) exportUser(w http.ResponseWriter, r *http.Request, c *call) error {
	id := c.params.ByName("id")
	if id == "me" {
		id = c.principal.UserID
	} else if _, err := c.id("usr"); err != nil {
		return err
	}
	if id != c.principal.UserID && c.principal.Role != actors.RoleAdmin {
		return errorf(problem.NotFound, "no such user %s", id) // others' accounts are not the caller's to know of
	}
	ctx := r.Context()
	u, err := s.store.GetUser(ctx, id)
	if errors.Is(err, persistence.ErrNotFound) || (err == nil && u.Erased) {
		return errorf(problem.NotFound, "no such user %s", id)
	}
	if err != nil {
		return unavailable(err)
	}
	now := s.now()
	out := userExport{ExportedAt: wire.Timestamp(now), User: userRowView(u.UserRow),
		Orders: []wire.Order{}, Notifications: []persistence.Notification{}, LocationHistory: []wire.TrackPoint{}, Truncated: []string{},
		LoginFailures: []loginFailureView{}}
	if u.Role == actors.RoleDriver {
		d, err := s.store.GetDriver(ctx, id)
		if err != nil && !errors.Is(err, persistence.ErrNotFound) {
			return unavailable(err)
		}
		if err == nil {
			v := driverView(d)
			out.Driver = &v
		}
		fixes, err := s.store.Trail(ctx, id, time.Unix(0, 0), now.Add(time.Minute), exportMaxFixes+1)
		if err != nil {
			return unavailable(err)
		}
		if len(fixes) > exportMaxFixes {
			fixes, out.Truncated = fixes[:exportMaxFixes], append(out.Truncated, "location_history")
		}
		for _, f := range fixes {
			out.LocationHistory = append(out.LocationHistory, wire.TrackPoint{Position: wire.Position{Lat: f.Lat, Lng: f.Lng,
				Heading: f.Heading, Speed: f.Speed, Accuracy: f.Accuracy}, At: wire.Timestamp(f.At)})
		}
	}
	for after := ""; ; {
		rows, more, err := s.store.ListOrders(ctx, persistence.OrderFilter{UserID: id, Limit: 100, After: after})
		if err != nil {
			return unavailable(err)
		}
		for _, o := range rows {
			out.Orders = append(out.Orders, o.Public())
		}
		if !more || len(rows) == 0 {
			break
		}
		if len(out.Orders) >= exportMaxOrders {
			out.Truncated = append(out.Truncated, "orders")
			break
		}
		after = rows[len(rows)-1].ID
	}
	for after := ""; ; {
		ns, more, err := s.store.ListNotifications(ctx, persistence.NotificationFilter{UserID: id, Limit: 100, After: after})
		if err != nil {
			return unavailable(err)
		}
		out.Notifications = append(out.Notifications, ns...)
		if !more || len(ns) == 0 {
			break
		}
		if len(out.Notifications) >= exportMaxNotifications {
			out.Truncated = append(out.Truncated, "notifications")
			break
		}
		after = ns[len(ns)-1].ID
	}
	if err := s.exportCredentials(r, &out, u.UserRow); err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", `attachment; filename="outrider-export-`+id+`.json"`)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// loginFailureView is a failed-login count as an export shows it: the
// throttle's key names the e-mail and, per address, the address.
type loginFailureView struct {
	Key           string    `json:"key"`
	Failures      int       `json:"failures"`
	LastFailureAt time.Time `json:"last_failure_at"`
}

// exportCredentials adds to out the metadata of u's refresh tokens,
// Idempotency-Keys, reset tokens and failed logins.
func (s *Server) exportCredentials(r *http.Request, out *userExport, u actors.UserRow) error {
	ctx := r.Context()
	var err error
	if out.RefreshTokens, err = s.store.RefreshTokensOf(ctx, u.ID, exportMaxTokens+1); err != nil {
		return unavailable(err)
	}
	if len(out.RefreshTokens) > exportMaxTokens {
		out.RefreshTokens, out.Truncated = out.RefreshTokens[:exportMaxTokens], append(out.Truncated, "refresh_tokens")
	}
	if out.IdempotencyKeys, err = s.store.IdempotencyKeysOf(ctx, u.ID, exportMaxTokens+1); err != nil {
		return unavailable(err)
	}
	if len(out.IdempotencyKeys) > exportMaxTokens {
		out.IdempotencyKeys, out.Truncated = out.IdempotencyKeys[:exportMaxTokens], append(out.Truncated, "idempotency_keys")
	}
	if out.PasswordResets, err = s.store.PasswordResetsOf(ctx, u.ID, exportMaxTokens+1); err != nil {
		return unavailable(err)
	}
	if len(out.PasswordResets) > exportMaxTokens {
		out.PasswordResets, out.Truncated = out.PasswordResets[:exportMaxTokens], append(out.Truncated, "password_resets")
	}
	fails, err := s.store.LoginFailuresMatching(ctx, u.Email)
	if err != nil {
		return unavailable(err)
	}
	for k, c := range fails {
		out.LoginFailures = append(out.LoginFailures, loginFailureView{Key: k, Failures: c.Failures, LastFailureAt: c.Last})
	}
	slices.SortFunc(out.LoginFailures, func(a, b loginFailureView) int { return strings.Compare(a.Key, b.Key) })
	if len(fails) >= persistence.MaxLoginFailuresOf {
		out.Truncated = append(out.Truncated, "login_failures")
	}
	return nil
}
