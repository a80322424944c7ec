package worker

import (
	"context"
	"time"
)

// Retention (issue #14): data is kept only as long as it is needed. Each
// trim pass deletes, per kind of data, the rows past its retention in
// batches of trimBatch, at most trimBatches batches a pass (the rest goes
// at the next pass, an hour later), so a pass never holds the database
// for long; each row deleted is counted in outrider_retention_deleted_total.
//
//   - location history: fixes older than LocationRetention (30 days);
//   - notifications read longer ago than NotificationRetention (90 days);
//     unread ones stay;
//   - refresh tokens expired or revoked longer ago than RefreshRetention
//     (7 days); spent ones stay while they have not expired, since a reuse
//     of one revokes its family;
//   - Idempotency-Key records older than IdempotencyRetention (24 hours,
//     the promise of the API);
//   - failed-login counts a day after their last failure (the API forgets
//     them after minutes; LoginFailureRetention);
//   - password reset tokens a day after they expired or were spent
//     (PasswordResetRetention).

// LoginFailureRetention is how long a failed-login count row is kept
// after its last failure.
const LoginFailureRetention = 24 * time.Hour

// PasswordResetRetention is how long a spent or expired password reset
// token is kept: long enough to tell a user why his link failed in the
// logs of the day, no longer.
const PasswordResetRetention = 24 * time.Hour

const (
	trimBatch   = 10_000
	trimBatches = 100
)

// retain runs one retention pass at now.
func (w *Worker) retain(ctx context.Context, now time.Time) {
	s := w.d.Store
	for _, r := range []struct {
		data   string
		before time.Time
		trim   func(context.Context, time.Time, int) (int64, error)
	}{
		{"location_history", now.Add(-w.cfg.LocationRetention), s.TrimLocationHistory},
		{"read_notifications", now.Add(-w.cfg.NotificationRetention), s.TrimReadNotifications},
		{"refresh_tokens", now.Add(-w.cfg.RefreshRetention), s.TrimRefreshTokens},
		{"idempotency_keys", now.Add(-w.cfg.IdempotencyRetention), s.TrimIdempotencyKeys},
		{"login_failures", now.Add(-LoginFailureRetention), s.TrimLoginFailures},
		{"password_resets", now.Add(-PasswordResetRetention), s.TrimPasswordResets},
	} {
		var total int64
		for range trimBatches {
			n, err := r.trim(ctx, r.before, trimBatch)
			total += n
			if err != nil {
				w.d.Logger.Warn("retention: trim failed", "data", r.data, "err", err)
				break
			}
			if n < trimBatch {
				break
			}
		}
		// Added even when 0, so that every kind's series exists from the
		// first pass.
		w.metrics.trimmed.WithLabelValues(r.data).Add(float64(total))
		if total > 0 {
			w.d.Logger.Info("retention: trimmed", "data", r.data, "rows", total)
		}
	}
}
