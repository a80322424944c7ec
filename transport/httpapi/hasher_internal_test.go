package httpapi

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/problem"
)

// SECURITY.md known gap 6: password checks queued without a deadline, so
// a flood of logins for unknown e-mails held a real user's login for 5–6
// s. A check waits at most HashQueueWait for a slot, then is refused 503
// with Retry-After; a slot that frees within the wait is taken.
func TestPasswordQueueWaitIsBounded(t *testing.T) {
	const wait = 100 * time.Millisecond
	h := newPasswordHasher(4, 1, wait)
	require.NoError(t, h.acquire(context.Background())) // every slot busy

	began := time.Now()
	_, err := h.check(context.Background(), "", "grape-lantern-42")
	waited := time.Since(began)
	var e *Error
	require.True(t, errors.As(err, &e), "%v", err)
	require.Equal(t, problem.Unavailable, e.Code)
	require.Equal(t, 1, e.RetryAfter)
	require.GreaterOrEqual(t, waited, wait, "it waited for a slot first")
	require.Less(t, waited, 10*wait, "and not much longer")

	// A slot freed while a check waits is taken.
	time.AfterFunc(wait/4, func() { <-h.slots })
	ok, err := h.check(context.Background(), "", "grape-lantern-42")
	require.NoError(t, err)
	require.False(t, ok, "an unknown user's check fails, after the dummy hash")
}
