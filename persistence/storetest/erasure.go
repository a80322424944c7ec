package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence"
)

// testErasure: a commit's Erasures and Redactions (DELETE /v1/users/:id)
// erase exactly the erased user's rows and rewrite exactly the redacted
// entity's past; ForgetUser deletes the Idempotency-Key answers that
// mention him.
func testErasure(t *testing.T, open func(t *testing.T) persistence.Backend) {
	t.Run("User", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		for _, id := range []string{"er-d1", "er-d2"} {
			addDriver(t, b, id, 1, true)
		}
		for i, id := range []string{"er-d1", "er-d2"} {
			fixes := []persistence.LocationFix{{DriverID: id, Lat: 52.5, Lng: 13.4, At: t0}}
			require.NoError(t, b.RecordLocations(ctx, fixes, fixes))
			require.NoError(t, b.CreateRefreshToken(ctx, persistence.RefreshToken{Hash: "h-" + id, UserID: id,
				FamilyID: "f-" + id, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}))
			_, err := b.CreatePasswordReset(ctx, persistence.PasswordReset{Hash: "pr-" + id, UserID: id,
				CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, t0.Add(-time.Hour))
			require.NoError(t, err)
			_, err = b.CreateNotifications(ctx, []persistence.Notification{notification(i+1, id, "order:o1:1")})
			require.NoError(t, err)
			// The throttle keys failures by e-mail (transport/httpapi/throttle.go).
			require.NoError(t, b.AddLoginFailure(ctx, []string{"acct:" + id + "@example.com",
				"acct-ip:" + id + "@example.com|127.0.0.1"}, t0, t0.Add(-time.Hour)))
		}
		// A key of another address that merely starts like his stays.
		require.NoError(t, b.AddLoginFailure(ctx, []string{"acct:er-d1@example.com.evil", "known:er-d1@example.com.evil|127.0.0.1"},
			t0, t0.Add(-time.Hour)))
		// Any kind of key the throttle makes of his e-mail goes.
		require.NoError(t, b.AddLoginFailure(ctx, []string{"known:er-d1@example.com|127.0.0.1"}, t0, t0.Add(-time.Hour)))

		at := t0.Add(time.Minute)
		require.NoError(t, b.Commit(ctx, actors.Commit{
			Events: []actors.Event{{Kind: actors.KindUser, EntityID: "er-d1", Seq: 2, Type: "user.erased",
				Payload: []byte("erased"), CommandID: "erase", At: at}},
			Snapshots:  []actors.Snapshot{{Kind: actors.KindUser, EntityID: "er-d1", Seq: 2, State: []byte("nothing personal")}},
			Redactions: []actors.Redaction{{Kind: actors.KindUser, EntityID: "er-d1", PurgeBefore: 2}},
			Erasures:   []actors.UserErasure{{ID: "er-d1", At: at}},
		}))

		u, err := b.GetUser(ctx, "er-d1")
		require.NoError(t, err)
		require.True(t, u.Erased)
		require.True(t, u.Inactive)
		require.Equal(t, "erased:er-d1", u.Email)
		require.Empty(t, u.Name)
		require.Empty(t, u.Phone)
		require.Empty(t, u.PasswordHash)
		require.Equal(t, actors.RoleDriver, u.Role, "the role stays")
		_, err = b.GetUserByEmail(ctx, "er-d1@example.com")
		require.ErrorIs(t, err, persistence.ErrNotFound)
		us, _, err := b.ListUsers(ctx, persistence.UserFilter{Limit: 10})
		require.NoError(t, err)
		for _, u := range us {
			require.NotEqual(t, "er-d1", u.ID, "an erased account is not listed")
		}
		// The address is free again.
		require.NoError(t, b.Commit(ctx, userCommit("er-new", "er-d1@example.com", actors.RoleCustomer)))

		l, err := b.Load(ctx, actors.KindUser, "er-d1")
		require.NoError(t, err)
		require.Equal(t, []byte("nothing personal"), l.Snapshot.State)
		require.Empty(t, l.Events)
		all, err := b.JournalEvents(ctx, actors.KindUser, "er-d1", 0)
		require.NoError(t, err)
		require.Len(t, all, 1, "the journal before the erasure is gone")
		require.Equal(t, "user.erased", all[0].Type)
		v, err := b.Version(ctx, actors.KindUser, "er-d1")
		require.NoError(t, err)
		require.EqualValues(t, 2, v, "the fence stays where it was")

		trail, err := b.Trail(ctx, "er-d1", t0.Add(-time.Hour), t0.Add(time.Hour), 10)
		require.NoError(t, err)
		require.Empty(t, trail)
		_, err = b.GetDriver(ctx, "er-d1")
		require.ErrorIs(t, err, persistence.ErrNotFound, "an erased driver is not listed")
		ds, _, err := b.ListDrivers(ctx, persistence.DriverFilter{Limit: 10})
		require.NoError(t, err)
		require.Len(t, ds, 1)
		require.Equal(t, "er-d2", ds[0].ID)
		_, err = b.RotateRefreshToken(ctx, "h-er-d1", persistence.RefreshToken{Hash: "h2", UserID: "er-d1",
			FamilyID: "f-er-d1", ExpiresAt: t0.Add(time.Hour), CreatedAt: at}, at)
		require.ErrorIs(t, err, persistence.ErrTokenInvalid)
		ns, _, err := b.ListNotifications(ctx, persistence.NotificationFilter{UserID: "er-d1", Limit: 10})
		require.NoError(t, err)
		require.Empty(t, ns)
		_, err = b.PasswordResetUser(ctx, "pr-er-d1", at)
		require.ErrorIs(t, err, persistence.ErrResetTokenInvalid, "his reset tokens go")
		_, err = b.PasswordResetUser(ctx, "pr-er-d2", at)
		require.NoError(t, err)
		fails, err := b.LoginFailuresOf(ctx, []string{"acct:er-d1@example.com", "acct-ip:er-d1@example.com|127.0.0.1",
			"known:er-d1@example.com|127.0.0.1", "acct:er-d1@example.com.evil", "known:er-d1@example.com.evil|127.0.0.1"}, t0.Add(-time.Hour))
		require.NoError(t, err)
		require.ElementsMatch(t, []string{"acct:er-d1@example.com.evil", "known:er-d1@example.com.evil|127.0.0.1"}, keysOf(fails))

		// The other driver keeps everything.
		other, err := b.GetUser(ctx, "er-d2")
		require.NoError(t, err)
		require.False(t, other.Erased)
		require.Equal(t, "er-d2@example.com", other.Email)
		trail, err = b.Trail(ctx, "er-d2", t0.Add(-time.Hour), t0.Add(time.Hour), 10)
		require.NoError(t, err)
		require.Len(t, trail, 1)
		ns, _, err = b.ListNotifications(ctx, persistence.NotificationFilter{UserID: "er-d2", Limit: 10})
		require.NoError(t, err)
		require.Len(t, ns, 1)
		fails, err = b.LoginFailuresOf(ctx, []string{"acct:er-d2@example.com", "acct-ip:er-d2@example.com|127.0.0.1"}, t0.Add(-time.Hour))
		require.NoError(t, err)
		require.Len(t, fails, 2)
		l, err = b.Load(ctx, actors.KindUser, "er-d2")
		require.NoError(t, err)
		require.Len(t, l.Events, 1)
	})
	t.Run("Order", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		for i, id := range []string{"er-o1", "er-o2"} {
			for seq := int64(1); seq <= 2; seq++ {
				require.NoError(t, b.Commit(ctx, orderCommit(id, "er-c1", seq, "pending", t0.Add(time.Duration(seq)*time.Second))))
			}
			_, err := b.CreateNotifications(ctx, []persistence.Notification{
				notification(2*i+1, "er-driver", "order:"+id+":1"), notification(2*i+2, "er-admin", "order:"+id+":2")})
			require.NoError(t, err)
		}
		// An order whose id extends o1's: its notifications are not o1's.
		_, err := b.CreateNotifications(ctx, []persistence.Notification{notification(9, "er-driver", "order:er-o1x:1")})
		require.NoError(t, err)

		redacted := orderCommit("er-o1", "er-c1", 3, "pending", t0.Add(time.Minute))
		redacted.Orders[0].Pickup, redacted.Orders[0].Dropoff, redacted.Orders[0].Notes = actors.Place{}, actors.Place{}, ""
		redacted.Timeline = nil
		redacted.Redactions = []actors.Redaction{{Kind: actors.KindOrder, EntityID: "er-o1", Order: true,
			Journal:  []actors.Event{{Seq: 1, Payload: []byte("er-o1/1 redacted")}},
			Timeline: []actors.TimelineEntry{{OrderID: "er-o1", Seq: 2, Metadata: map[string]string{"event": "order.pending"}}},
			Outbox:   []actors.OutboxMessage{{ID: "order:er-o1:2", Payload: []byte(`{"seq":2,"redacted":true}`)}},
		}}
		require.NoError(t, b.Commit(ctx, redacted))

		j, err := b.JournalEvents(ctx, actors.KindOrder, "er-o1", 0)
		require.NoError(t, err)
		require.Len(t, j, 3, "an order's journal is rewritten, never cut")
		require.Equal(t, "er-o1/1 redacted", string(j[0].Payload))
		require.Equal(t, "order.pending", j[0].Type, "the other columns stay")
		require.Equal(t, "er-o1/2", string(j[1].Payload))
		o, err := b.GetOrder(ctx, "er-o1")
		require.NoError(t, err)
		require.Empty(t, o.Pickup.Address)
		require.Empty(t, o.Notes)
		tl, err := b.Timeline(ctx, "er-o1")
		require.NoError(t, err)
		require.Len(t, tl, 2)
		require.Equal(t, map[string]string{"event": "order.pending"}, tl[1].Metadata)
		require.Equal(t, "pending", tl[1].Status)
		if r, ok := b.(OutboxReader); ok {
			msgs, err := r.UnpublishedOutbox(ctx, 100)
			require.NoError(t, err)
			got := map[string]string{}
			for _, m := range msgs {
				got[m.ID] = string(m.Payload)
			}
			require.JSONEq(t, `{"seq":2,"redacted":true}`, got["order:er-o1:2"])
			require.JSONEq(t, `{"seq":2}`, got["order:er-o2:2"])
		}
		for user, want := range map[string][]string{"er-driver": {"order:er-o1x:1", "order:er-o2:1"}, "er-admin": {"order:er-o2:2"}} {
			ns, _, err := b.ListNotifications(ctx, persistence.NotificationFilter{UserID: user, Limit: 10})
			require.NoError(t, err)
			var events []string
			for _, n := range ns {
				events = append(events, n.EventID)
			}
			require.ElementsMatch(t, want, events, "%s's notifications about er-o1 go, the others stay", user)
		}

		// The redaction's own event is the fence (I5): a stale writer of
		// seq 3 is refused.
		err = b.Commit(ctx, orderCommit("er-o1", "er-c1", 3, "pending", t0.Add(2*time.Minute)))
		require.ErrorIs(t, err, actors.ErrConflict)
	})
	t.Run("ForgetUser", func(t *testing.T) {
		t.Parallel()
		b, ctx := open(t), t.Context()
		answer := func(scope, key, body string) {
			_, err := b.BeginIdempotent(ctx, scope, key, "h", "node", t0)
			require.NoError(t, err)
			require.NoError(t, b.CompleteIdempotent(ctx, scope, key, persistence.IdempotentResponse{Status: 200, Body: []byte(body)}))
		}
		answer("usr_erased", "k1", `{"ok":true}`)                                // his own request
		answer("usr_admin", "k2", `{"id":"usr_erased","email":"x@example.com"}`) // about him
		answer("anon", "k3", `{"user":{"id":"usr_erased"}}`)                     // his signup
		answer("usr_admin", "k4", `{"id":"usr_other"}`)                          // not about him
		_, err := b.BeginIdempotent(ctx, "usr_admin", "k5", "h", "node", t0)     // in progress: no body yet
		require.NoError(t, err)
		addDriver(t, b, "usr_erased", 1, true)
		fixes := []persistence.LocationFix{{DriverID: "usr_erased", Lat: 1, Lng: 2, At: t0}}
		require.NoError(t, b.RecordLocations(ctx, fixes, fixes))

		n, err := b.ForgetUser(ctx, "usr_erased")
		require.NoError(t, err)
		require.EqualValues(t, 4, n, "three answers and one fix")
		n, err = b.ForgetUser(ctx, "usr_erased")
		require.NoError(t, err)
		require.Zero(t, n, "repeating it is harmless")
		for key, scope := range map[string]string{"k1": "usr_erased", "k2": "usr_admin", "k3": "anon"} {
			got, err := b.BeginIdempotent(ctx, scope, key, "h", "node", t0)
			require.NoError(t, err)
			require.Nil(t, got, "%s was forgotten: a new claim", key)
		}
		got, err := b.BeginIdempotent(ctx, "usr_admin", "k4", "h", "node", t0)
		require.NoError(t, err)
		require.NotNil(t, got, "an answer not about him stays")
		_, err = b.BeginIdempotent(ctx, "usr_admin", "k5", "h", "node", t0)
		require.ErrorIs(t, err, persistence.ErrIdempotencyInProgress)
	})
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
