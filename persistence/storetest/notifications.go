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
