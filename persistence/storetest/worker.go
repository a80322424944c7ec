package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence"
)

// workerBackend is a backend with the notification worker's tables.
// persistence.Backend will include both interfaces; until then the suite
// asserts them, and a backend without them fails.
type workerBackend interface {
	persistence.Backend
	persistence.Notifications
	persistence.Webhooks
}

func openWorker(t *testing.T, open func(t *testing.T) persistence.Backend) workerBackend {
	t.Helper()
	b := open(t)
	wb, ok := b.(workerBackend)
	require.Truef(t, ok, "%T does not implement persistence.Notifications and persistence.Webhooks", b)
	return wb
}

// ulidAt is the ULID of instant t0 + i ms with zero entropy: ids ascend
// with i, as those a worker mints one after another do.
func ulidAt(i int) string {
	return ulid.MustNew(ulid.Timestamp(t0.Add(time.Duration(i)*time.Millisecond)), nil).String()
}

// notification is user's notification number i, of event.
func notification(i int, user, event string) persistence.Notification {
	return persistence.Notification{ID: ulidAt(i), UserID: user, Type: "order.status_changed", EventID: event,
		Payload:   json.RawMessage(fmt.Sprintf(`{ "status":"delivered", "order_id":"o%d" }`, i)),
		CreatedAt: t0.Add(time.Duration(i) * time.Second)}
}

// canonical re-encodes the payloads of ns (Postgres's jsonb keeps a
// payload's meaning, not its bytes), so lists compare whole.
func canonical(t *testing.T, ns []persistence.Notification) []persistence.Notification {
	t.Helper()
	out := make([]persistence.Notification, 0, len(ns))
	for _, n := range ns {
		var v any
		require.NoError(t, json.Unmarshal(n.Payload, &v), "payload of %s", n.ID)
		p, err := json.Marshal(v)
		require.NoError(t, err)
		n.Payload = p
		out = append(out, n)
	}
	return out
}

// listAll pages through f's notifications, f.Limit at a time, checking
// that every page but the last is full.
func listAll(t *testing.T, b workerBackend, f persistence.NotificationFilter) []persistence.Notification {
	t.Helper()
	var all []persistence.Notification
	for range 1000 {
		page, more, err := b.ListNotifications(t.Context(), f)
		require.NoError(t, err)
		all = append(all, page...)
		if !more {
			return all
		}
		require.Len(t, page, f.Limit, "a page before the last is full")
		f.After = page[len(page)-1].ID
	}
	require.FailNow(t, "paging does not end")
	return nil
}

func testNotifications(t *testing.T, open func(t *testing.T) persistence.Backend) {
	t.Run("CreateSkipsDuplicates", func(t *testing.T) {
		t.Parallel()
		b, ctx := openWorker(t, open), t.Context()
		n1, n2, n3 := notification(1, "u1", "e1"), notification(2, "u1", "e2"), notification(3, "u2", "e1")
		redelivered := notification(4, "u1", "e1") // e1 again, with a fresh id
		redelivered.Payload = json.RawMessage(`{"redelivered":true}`)
		n5, n5again := notification(5, "u1", "e3"), notification(6, "u1", "e3")
		steps := []struct {
			name   string
			in     []persistence.Notification
			wantIn []persistence.Notification
		}{
			{"new ones", []persistence.Notification{n1, n2, n3}, []persistence.Notification{n1, n2, n3}},
			{"a redelivered batch", []persistence.Notification{n1, redelivered}, nil},
			{"new and old, twice in one batch", []persistence.Notification{n5, redelivered, n5again}, []persistence.Notification{n5}},
			{"nothing", nil, nil},
		}
		for _, s := range steps {
			got, err := b.CreateNotifications(ctx, s.in)
			require.NoError(t, err, s.name)
			require.Equal(t, canonical(t, s.wantIn), canonical(t, got), s.name)
		}
		// An id is one notification's: giving it to another is an error,
		// and nothing of the batch is written.
		clash := notification(7, "u3", "e9")
		clash.ID = n1.ID
		_, err := b.CreateNotifications(ctx, []persistence.Notification{notification(8, "u3", "e8"), clash})
		require.Error(t, err, "an id taken by another notification")
		require.Empty(t, listAll(t, b, persistence.NotificationFilter{UserID: "u3", Limit: 10}))

		// The first notification of an event stays; newest first.
		require.Equal(t, canonical(t, []persistence.Notification{n5, n2, n1}),
			canonical(t, listAll(t, b, persistence.NotificationFilter{UserID: "u1", Limit: 10})))
		require.Equal(t, canonical(t, []persistence.Notification{n3}),
			canonical(t, listAll(t, b, persistence.NotificationFilter{UserID: "u2", Limit: 10})))
	})

	t.Run("ConcurrentCreateInsertsOnce", func(t *testing.T) {
		tests := []struct {
			name string
			// reversed makes every other caller pass the batch in reverse
			// order: overlapping batches from several workers.
			reversed bool
		}{{"same order", false}, {"opposite orders", true}}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				b, ctx := openWorker(t, open), t.Context()
				// Large enough that opposite orders would deadlock in a
				// backend that inserted rows in the order given.
				const users, perUser = 10, 30
				var batch []persistence.Notification
				for i := range users * perUser {
					batch = append(batch, notification(i, fmt.Sprintf("u%d", i%users), fmt.Sprintf("e%d", i/users)))
				}
				const callers = 8
				got := make([][]persistence.Notification, callers)
				errs := make([]error, callers)
				var wg sync.WaitGroup
				for i := range callers {
					wg.Go(func() {
						in := slices.Clone(batch)
						if tt.reversed && i%2 == 1 {
							slices.Reverse(in)
						}
						got[i], errs[i] = b.CreateNotifications(ctx, in)
					})
				}
				wg.Wait()
				inserted := map[string]int{}
				winners := 0
				for i := range callers {
					require.NoError(t, errs[i], "caller %d", i)
					for _, n := range got[i] {
						inserted[n.ID]++
					}
					if len(got[i]) > 0 {
						winners++
					}
				}
				for _, n := range batch {
					require.Equal(t, 1, inserted[n.ID], "%s inserted once", n.ID)
				}
				if !tt.reversed {
					require.Equal(t, 1, winners, "one caller inserts the whole batch")
				}
				for u := range users {
					list, _, err := b.ListNotifications(ctx, persistence.NotificationFilter{UserID: fmt.Sprintf("u%d", u)})
					require.NoError(t, err)
					require.Len(t, list, perUser)
				}
			})
		}
	})

	t.Run("ListNewestFirstUnreadAndPaged", func(t *testing.T) {
		t.Parallel()
		b, ctx := openWorker(t, open), t.Context()
		readAt := t0.Add(time.Hour)
		var all, unread []persistence.Notification // u1's, oldest first for now
		for i := range 30 {
			user := "u1"
			if i%4 == 3 {
				user = "u2" // interleaved: never in u1's pages
			}
			n := notification(i, user, fmt.Sprintf("e%d", i))
			_, err := b.CreateNotifications(ctx, []persistence.Notification{n})
			require.NoError(t, err)
			if user != "u1" {
				continue
			}
			if len(all)%3 == 0 {
				require.NoError(t, b.MarkNotificationRead(ctx, "u1", n.ID, readAt))
				n.ReadAt = &readAt
			} else {
				unread = append(unread, n)
			}
			all = append(all, n)
		}
		slices.Reverse(all)
		slices.Reverse(unread)
		require.Len(t, all, 23)
		require.Len(t, unread, 15)

		tests := []struct {
			unreadOnly bool
			limit      int
			want       []persistence.Notification
		}{
			{false, 1, all},
			{false, 5, all},
			{false, 23, all},
			{false, 100, all},
			{true, 4, unread},
			{true, 5, unread}, // the last page is full and has no successor
			{true, 100, unread},
		}
		for _, tt := range tests {
			got := listAll(t, b, persistence.NotificationFilter{UserID: "u1", UnreadOnly: tt.unreadOnly, Limit: tt.limit})
			require.Equal(t, canonical(t, tt.want), canonical(t, got), "unread only %v, limit %d", tt.unreadOnly, tt.limit)
		}
		page, more, err := b.ListNotifications(ctx, persistence.NotificationFilter{UserID: "u1"})
		require.NoError(t, err)
		require.False(t, more)
		require.Len(t, page, 23, "no limit is the default page size")
		page, more, err = b.ListNotifications(ctx, persistence.NotificationFilter{UserID: "nobody", Limit: 10})
		require.NoError(t, err)
		require.False(t, more)
		require.Empty(t, page)
	})

	t.Run("MarkReadIsPerUser", func(t *testing.T) {
		t.Parallel()
		b, ctx := openWorker(t, open), t.Context()
		mine, theirs := notification(1, "u1", "e1"), notification(2, "u2", "e1")
		_, err := b.CreateNotifications(ctx, []persistence.Notification{mine, theirs})
		require.NoError(t, err)

		refused := []struct {
			name     string
			user, id string
		}{
			{"another user's", "u2", mine.ID},
			{"unknown", "u1", ulidAt(99)},
			{"no user", "", mine.ID},
		}
		for _, tt := range refused {
			require.ErrorIs(t, b.MarkNotificationRead(ctx, tt.user, tt.id, t0), persistence.ErrNotFound, tt.name)
		}
		unread := listAll(t, b, persistence.NotificationFilter{UserID: "u1", UnreadOnly: true, Limit: 10})
		require.Equal(t, canonical(t, []persistence.Notification{mine}), canonical(t, unread), "refusals mark nothing")

		first, later := t0.Add(time.Minute), t0.Add(time.Hour)
		require.NoError(t, b.MarkNotificationRead(ctx, "u1", mine.ID, first))
		require.NoError(t, b.MarkNotificationRead(ctx, "u1", mine.ID, later), "marking twice is fine")
		mine.ReadAt = &first // and keeps the first read time
		require.Equal(t, canonical(t, []persistence.Notification{mine}),
			canonical(t, listAll(t, b, persistence.NotificationFilter{UserID: "u1", Limit: 10})))
		require.Empty(t, listAll(t, b, persistence.NotificationFilter{UserID: "u1", UnreadOnly: true, Limit: 10}))
		require.Equal(t, canonical(t, []persistence.Notification{theirs}),
			canonical(t, listAll(t, b, persistence.NotificationFilter{UserID: "u2", Limit: 10})),
			"u2 sees only its own, still unread")
	})

	t.Run("MarkAllRead", func(t *testing.T) {
		t.Parallel()
		b, ctx := openWorker(t, open), t.Context()
		var u1 []persistence.Notification
		for i := range 4 {
			u1 = append(u1, notification(i, "u1", fmt.Sprintf("e%d", i)))
		}
		u2 := []persistence.Notification{notification(10, "u2", "e1"), notification(11, "u2", "e2")}
		_, err := b.CreateNotifications(ctx, append(slices.Clone(u1), u2...))
		require.NoError(t, err)
		early, now := t0.Add(time.Minute), t0.Add(time.Hour)
		require.NoError(t, b.MarkNotificationRead(ctx, "u1", u1[0].ID, early))

		steps := []struct {
			user string
			want int
		}{{"u1", 3}, {"u1", 0}, {"nobody", 0}}
		for i, s := range steps {
			n, err := b.MarkAllNotificationsRead(ctx, s.user, now)
			require.NoError(t, err)
			require.Equal(t, s.want, n, "step %d (%s)", i, s.user)
		}
		u1[0].ReadAt = &early // read before: keeps its time
		for i := 1; i < len(u1); i++ {
			u1[i].ReadAt = &now
		}
		slices.Reverse(u1)
		require.Equal(t, canonical(t, u1), canonical(t, listAll(t, b, persistence.NotificationFilter{UserID: "u1", Limit: 10})))
		slices.Reverse(u2)
		require.Equal(t, canonical(t, u2),
			canonical(t, listAll(t, b, persistence.NotificationFilter{UserID: "u2", UnreadOnly: true, Limit: 10})),
			"another user's are untouched")
	})

	t.Run("TrimProcessed", func(t *testing.T) {
		t.Parallel()
		b, ctx := openWorker(t, open), t.Context()
		for i, id := range []string{"old1", "old2", "new"} {
			at := t0.Add(time.Duration(i) * time.Hour) // 0h, 1h, 2h
			_, err := b.MarkProcessed(ctx, "email", id, at)
			require.NoError(t, err)
		}
		n, err := b.TrimProcessed(ctx, t0.Add(90*time.Minute))
		require.NoError(t, err)
		require.Equal(t, 2, n)
		for id, want := range map[string]bool{"old1": false, "old2": false, "new": true} {
			done, err := b.Processed(ctx, "email", id)
			require.NoError(t, err)
			require.Equal(t, want, done, id)
		}
	})

	t.Run("MarkProcessed", func(t *testing.T) {
		t.Parallel()
		b, ctx := openWorker(t, open), t.Context()
		steps := []struct {
			consumer, id string
			first        bool
		}{
			{"email", "m1", true},
			{"email", "m1", false},
			{"sms", "m1", true}, // per consumer
			{"email", "m2", true},
			{"sms", "m1", false},
		}
		for i, s := range steps {
			done, err := b.Processed(ctx, s.consumer, s.id)
			require.NoError(t, err)
			require.Equal(t, !s.first, done, "step %d: processed before marking", i)
			first, err := b.MarkProcessed(ctx, s.consumer, s.id, t0.Add(time.Duration(i)*time.Second))
			require.NoError(t, err)
			require.Equal(t, s.first, first, "step %d: %s/%s", i, s.consumer, s.id)
			done, err = b.Processed(ctx, s.consumer, s.id)
			require.NoError(t, err)
			require.True(t, done, "step %d: processed after marking", i)
		}

		const callers = 10
		firsts := make([]bool, callers)
		errs := make([]error, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() { firsts[i], errs[i] = b.MarkProcessed(ctx, "email", "m3", t0) })
		}
		wg.Wait()
		n := 0
		for i := range callers {
			require.NoError(t, errs[i])
			if firsts[i] {
				n++
			}
		}
		require.Equal(t, 1, n, "exactly one concurrent caller is first")
	})
}

// webhook is endpoint number i, enabled, for types.
func webhook(i int, types ...string) persistence.Webhook {
	return persistence.Webhook{ID: ulidAt(i), URL: fmt.Sprintf("https://hooks.example.com/%d", i),
		Description: fmt.Sprintf("endpoint %d", i), Secret: fmt.Sprintf("whsec_%d", i), EventTypes: types,
		Enabled: true, CreatedAt: t0, UpdatedAt: t0}
}

// attempt is delivery attempt number i on endpoint w, a success or a
// failure with status (0: no answer) and errText.
func attempt(i int, w string, success bool, status int, errText string) persistence.WebhookAttempt {
	a := persistence.WebhookAttempt{ID: ulidAt(1000 + i), WebhookID: w, DeliveryID: fmt.Sprintf("dlv-%d", i/3),
		EventID: fmt.Sprintf("evt-%d", i/3), EventType: "order.created", Attempt: i%3 + 1, Success: success,
		StatusCode: status, Error: errText, DurationMS: int64(10 * i), At: t0.Add(time.Duration(i) * time.Minute)}
	if status != 0 {
		a.ResponseSnippet = fmt.Sprintf(`{"answer":%d}`, i)
	}
	return a
}

func testWebhooks(t *testing.T, open func(t *testing.T) persistence.Backend) {
	t.Run("CreateGetListUpdateDelete", func(t *testing.T) {
		t.Parallel()
		b, ctx := openWorker(t, open), t.Context()
		w1, w2, w3 := webhook(1, "order.created", "order.delivered"), webhook(2, "*"), webhook(3)
		w2.Enabled, w2.Description = false, ""
		w3.EventTypes = []string{} // subscribed to nothing (yet)
		for _, w := range []persistence.Webhook{w2, w1, w3} {
			require.NoError(t, b.CreateWebhook(ctx, w))
		}
		require.Error(t, b.CreateWebhook(ctx, w1), "an id is taken once")
		for _, w := range []persistence.Webhook{w1, w2, w3} {
			got, err := b.GetWebhook(ctx, w.ID)
			require.NoError(t, err)
			require.Equal(t, w, got, "secret and event types are kept")
		}

		var listed []persistence.Webhook
		after := ""
		for {
			page, more, err := b.ListWebhooks(ctx, persistence.WebhookPage{Limit: 2, After: after})
			require.NoError(t, err)
			listed = append(listed, page...)
			if !more {
				break
			}
			require.Len(t, page, 2)
			after = page[len(page)-1].ID
		}
		require.Equal(t, []persistence.Webhook{w1, w2, w3}, listed, "oldest first")

		// Only URL, Description, EventTypes and Enabled are replaced.
		change := w1
		change.URL, change.Description = "https://new.example.com/hook", "moved"
		change.EventTypes, change.Enabled = []string{"driver.online"}, false
		change.UpdatedAt = t0.Add(time.Hour)
		change.Secret, change.CreatedAt, change.ConsecutiveFailures, change.DisabledReason = "stolen", t0.Add(time.Hour), 7, "nope"
		want := w1
		want.URL, want.Description, want.EventTypes, want.Enabled = change.URL, change.Description, change.EventTypes, false
		want.UpdatedAt = t0.Add(time.Hour)
		got, err := b.UpdateWebhook(ctx, change)
		require.NoError(t, err)
		require.Equal(t, want, got)
		got, err = b.GetWebhook(ctx, w1.ID)
		require.NoError(t, err)
		require.Equal(t, want, got)

		require.NoError(t, b.DeleteWebhook(ctx, w1.ID))
		unknown := webhook(99, "*")
		refused := []struct {
			name string
			call func() error
		}{
			{"get unknown", func() error { _, err := b.GetWebhook(ctx, unknown.ID); return err }},
			{"get deleted", func() error { _, err := b.GetWebhook(ctx, w1.ID); return err }},
			{"update unknown", func() error { _, err := b.UpdateWebhook(ctx, unknown); return err }},
			{"update deleted", func() error { _, err := b.UpdateWebhook(ctx, change); return err }},
			{"delete unknown", func() error { return b.DeleteWebhook(ctx, unknown.ID) }},
			{"delete deleted", func() error { return b.DeleteWebhook(ctx, w1.ID) }},
		}
		for _, r := range refused {
			require.ErrorIs(t, r.call(), persistence.ErrWebhookNotFound, r.name)
		}
		listed, more, err := b.ListWebhooks(ctx, persistence.WebhookPage{})
		require.NoError(t, err)
		require.False(t, more)
		require.Equal(t, []persistence.Webhook{w2, w3}, listed)
	})

	t.Run("DeleteCascadesAttempts", func(t *testing.T) {
		t.Parallel()
		b, ctx := openWorker(t, open), t.Context()
		gone, kept := webhook(1, "*"), webhook(2, "*")
		require.NoError(t, b.CreateWebhook(ctx, gone))
		require.NoError(t, b.CreateWebhook(ctx, kept))
		for i, w := range []string{gone.ID, kept.ID, gone.ID} {
			_, err := b.RecordWebhookAttempt(ctx, attempt(i, w, true, 204, ""), 5)
			require.NoError(t, err)
		}
		require.NoError(t, b.DeleteWebhook(ctx, gone.ID))
		_, err := b.RecordWebhookAttempt(ctx, attempt(3, gone.ID, false, 500, ""), 5)
		require.ErrorIs(t, err, persistence.ErrWebhookNotFound, "an attempt on a deleted endpoint")

		attempts, more, err := b.ListWebhookAttempts(ctx, gone.ID, persistence.WebhookPage{Limit: 10})
		require.NoError(t, err)
		require.False(t, more)
		require.Empty(t, attempts, "deleted with the endpoint, and none recorded after")
		attempts, _, err = b.ListWebhookAttempts(ctx, kept.ID, persistence.WebhookPage{Limit: 10})
		require.NoError(t, err)
		require.Equal(t, []persistence.WebhookAttempt{attempt(1, kept.ID, true, 204, "")}, attempts)
	})

	t.Run("WebhooksFor", func(t *testing.T) {
		t.Parallel()
		b, ctx := openWorker(t, open), t.Context()
		orders, all, off, drivers := webhook(1, "order.created", "order.delivered"), webhook(2, "*"),
			webhook(3, "order.created", "*"), webhook(4, "driver.online")
		off.Enabled = false
		for _, w := range []persistence.Webhook{orders, all, off, drivers} {
			require.NoError(t, b.CreateWebhook(ctx, w))
		}
		tests := []struct {
			eventType string
			want      []persistence.Webhook
		}{
			{"order.created", []persistence.Webhook{orders, all}},
			{"order.delivered", []persistence.Webhook{orders, all}},
			{"driver.online", []persistence.Webhook{all, drivers}},
			{"user.registered", []persistence.Webhook{all}},
			{"order", []persistence.Webhook{all}}, // no prefix matching
		}
		for _, tt := range tests {
			got, err := b.WebhooksFor(ctx, tt.eventType)
			require.NoError(t, err)
			require.Equal(t, tt.want, got, tt.eventType)
		}
	})

	t.Run("FailuresDisableAtLimit", func(t *testing.T) {
		t.Parallel()
		b, ctx := openWorker(t, open), t.Context()
		w := webhook(1, "order.created")
		require.NoError(t, b.CreateWebhook(ctx, w))
		const limit = 3
		var disabledBy persistence.WebhookAttempt
		steps := []struct {
			name     string
			a        persistence.WebhookAttempt
			failures int
			enabled  bool
		}{
			{"an error status", attempt(0, w.ID, false, 500, ""), 1, true},
			{"no answer", attempt(1, w.ID, false, 0, "context deadline exceeded"), 2, true},
			{"a success resets the count", attempt(2, w.ID, true, 200, ""), 0, true},
			{"failure 1", attempt(3, w.ID, false, 502, ""), 1, true},
			{"failure 2", attempt(4, w.ID, false, 503, ""), 2, true},
			{"failure 3 disables", attempt(5, w.ID, false, 0, "dial tcp: connection refused"), 3, false},
			{"a late failure counts on", attempt(6, w.ID, false, 500, ""), 4, false},
		}
		for _, s := range steps {
			got, err := b.RecordWebhookAttempt(ctx, s.a, limit)
			require.NoError(t, err, s.name)
			stored, err := b.GetWebhook(ctx, w.ID)
			require.NoError(t, err)
			require.Equal(t, stored, got, "%s: the endpoint as stored", s.name)
			require.Equal(t, s.failures, got.ConsecutiveFailures, s.name)
			require.Equal(t, s.enabled, got.Enabled, s.name)
			if s.enabled {
				require.Empty(t, got.DisabledReason, s.name)
				require.Equal(t, t0, got.UpdatedAt, "%s: counting is no update", s.name)
				continue
			}
			if disabledBy.ID == "" {
				disabledBy = s.a
			}
			// The reason tells an operator how many failures and the last.
			require.Regexp(t, `\b3\b`, got.DisabledReason, s.name)
			require.Contains(t, got.DisabledReason, "dial tcp: connection refused", s.name)
			require.Equal(t, persistence.WebhookDisabledReason(limit, disabledBy), got.DisabledReason, s.name)
			require.Equal(t, disabledBy.At, got.UpdatedAt, "%s: disabled at the attempt that disabled it", s.name)
		}
		for _, eventType := range []string{"order.created", "order.delivered"} {
			subscribed, err := b.WebhooksFor(ctx, eventType)
			require.NoError(t, err)
			require.Empty(t, subscribed, "a disabled endpoint receives nothing")
		}

		// An admin enables it again: the count and the reason go.
		enable := w
		enable.UpdatedAt = t0.Add(time.Hour)
		want := w
		want.UpdatedAt = enable.UpdatedAt
		got, err := b.UpdateWebhook(ctx, enable)
		require.NoError(t, err)
		require.Equal(t, want, got)
		subscribed, err := b.WebhooksFor(ctx, "order.created")
		require.NoError(t, err)
		require.Equal(t, []persistence.Webhook{want}, subscribed)

		// Updating an endpoint that stays enabled keeps its count.
		_, err = b.RecordWebhookAttempt(ctx, attempt(7, w.ID, false, 500, ""), limit)
		require.NoError(t, err)
		edit := enable
		edit.Description, edit.UpdatedAt = "edited", t0.Add(2*time.Hour)
		got, err = b.UpdateWebhook(ctx, edit)
		require.NoError(t, err)
		require.Equal(t, 1, got.ConsecutiveFailures)
		require.True(t, got.Enabled)

		_, err = b.RecordWebhookAttempt(ctx, attempt(8, w.ID, true, 200, ""), 0)
		require.Error(t, err, "a failure limit must be positive")
	})

	t.Run("AdminDisabledKeepsNoReason", func(t *testing.T) {
		t.Parallel()
		b, ctx := openWorker(t, open), t.Context()
		w := webhook(1, "*")
		w.Enabled = false
		require.NoError(t, b.CreateWebhook(ctx, w))
		for i := range 3 {
			got, err := b.RecordWebhookAttempt(ctx, attempt(i, w.ID, false, 500, ""), 2)
			require.NoError(t, err)
			require.Equal(t, i+1, got.ConsecutiveFailures, "in-flight attempts still count")
			require.False(t, got.Enabled)
			require.Empty(t, got.DisabledReason, "the worker did not disable it")
			require.Equal(t, t0, got.UpdatedAt)
		}
	})

	t.Run("TrimAttempts", func(t *testing.T) {
		t.Parallel()
		b, ctx := openWorker(t, open), t.Context()
		w := webhook(1, "*")
		require.NoError(t, b.CreateWebhook(ctx, w))
		for i := range 6 {
			_, err := b.RecordWebhookAttempt(ctx, attempt(i, w.ID, true, 200, ""), 100)
			require.NoError(t, err)
		}
		n, err := b.TrimWebhookAttempts(ctx, ulidAt(1004)) // attempt(i) has id ulidAt(1000+i)
		require.NoError(t, err)
		require.Equal(t, 4, n)
		left, _, err := b.ListWebhookAttempts(ctx, w.ID, persistence.WebhookPage{Limit: 10})
		require.NoError(t, err)
		require.Len(t, left, 2)
		require.Equal(t, ulidAt(1005), left[0].ID)
		require.Equal(t, ulidAt(1004), left[1].ID)
	})

	t.Run("AttemptsNewestFirstPaged", func(t *testing.T) {
		t.Parallel()
		b, ctx := openWorker(t, open), t.Context()
		w1, w2 := webhook(1, "*"), webhook(2, "*")
		require.NoError(t, b.CreateWebhook(ctx, w1))
		require.NoError(t, b.CreateWebhook(ctx, w2))
		var want []persistence.WebhookAttempt // w1's, oldest first for now
		for i := range 10 {
			var a persistence.WebhookAttempt
			switch {
			case i%4 == 3:
				a = attempt(i, w2.ID, true, 200, "") // interleaved: never in w1's pages
			case i%2 == 0:
				a = attempt(i, w1.ID, false, 500+i, "")
			default:
				a = attempt(i, w1.ID, false, 0, fmt.Sprintf("timeout %d", i))
			}
			_, err := b.RecordWebhookAttempt(ctx, a, 100)
			require.NoError(t, err)
			if a.WebhookID == w1.ID {
				want = append(want, a)
			}
		}
		slices.Reverse(want)
		require.Len(t, want, 8)
		// Attempts per delivery (attempt(i) puts i/3 in dlv-<i/3>).
		for _, c := range []struct {
			webhook, delivery string
			n                 int
		}{{w1.ID, "dlv-0", 3}, {w1.ID, "dlv-1", 2}, {w2.ID, "dlv-1", 1}, {w1.ID, "dlv-9", 0}, {"nope", "dlv-0", 0}} {
			n, err := b.CountWebhookAttempts(ctx, c.webhook, c.delivery)
			require.NoError(t, err)
			require.Equal(t, c.n, n, "%s %s", c.webhook, c.delivery)
		}
		for _, limit := range []int{1, 3, 4, 8, 50} {
			var got []persistence.WebhookAttempt
			after := ""
			for range 100 {
				page, more, err := b.ListWebhookAttempts(ctx, w1.ID, persistence.WebhookPage{Limit: limit, After: after})
				require.NoError(t, err)
				got = append(got, page...)
				if !more {
					break
				}
				require.Len(t, page, limit, "a page before the last is full")
				after = page[len(page)-1].ID
			}
			require.Equal(t, want, got, "limit %d", limit)
		}
		none, more, err := b.ListWebhookAttempts(ctx, ulidAt(99), persistence.WebhookPage{})
		require.NoError(t, err)
		require.False(t, more)
		require.Empty(t, none, "an unknown endpoint has no attempts")
	})
}
