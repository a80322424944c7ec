package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence"
)

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
