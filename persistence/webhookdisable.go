package persistence

import (
	"fmt"
	"strconv"
	"time"
)

// WebhookDisabledReason is the DisabledReason RecordWebhookAttempt stores
// on an endpoint it disables after failures consecutive failed attempts,
// the last being a: what an operator needs to judge whether to enable it
// again — the count, when the last failure happened and what it was (the
// HTTP status, else the error, else "no answer").
//
// It lives here, beside the contract, because both backends store it and
// this package is the one they share (persistence may not import the
// worker). Whether an attempt disables its endpoint stays in each
// backend's SQL: the failure count is read and incremented in the
// attempt's own transaction, and only there can two concurrent attempts
// agree on which one reached the limit.
func WebhookDisabledReason(failures int, a WebhookAttempt) string {
	last := "no answer"
	switch {
	case a.StatusCode != 0:
		last = "HTTP " + strconv.Itoa(a.StatusCode)
	case a.Error != "":
		last = a.Error
	}
	return fmt.Sprintf("disabled after %d consecutive failed attempts; the last, at %s: %s",
		failures, a.At.UTC().Format(time.RFC3339), last)
}
