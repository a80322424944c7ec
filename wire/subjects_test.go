package wire_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/wire"
)

// The subjects are the protocol between releases: this pins every one
// byte for byte, so a change here is a deliberate, visible one.
func TestSubjects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ got, want string }{
		{wire.OrderSubject("ord_1"), "outrider.order.ord_1"},
		{wire.OrderEvents, "outrider.order.>"},
		{wire.OrderEventID("ord_1", 12), "order:ord_1:12"},
		{wire.JobSubject("usr_d1"), "outrider.job.usr_d1"},
		{wire.JobEvents, "outrider.job.>"},
		{wire.JobEventID("ord_1", 12), "job:ord_1:12"},
		{wire.JobLiveSubject("usr_d1"), "outrider.live.job.usr_d1"},
		{wire.OfferID("ord_1", 12), "ord_1.12"},
		{wire.LocationSubject("usr_d1"), "outrider.location.driver.usr_d1"},
		{wire.LocationsAll, "outrider.location.driver.*"},
		{wire.FleetDriverSubject("usr_d1"), "outrider.fleet.driver.usr_d1"},
		{wire.FleetDrivers, "outrider.fleet.driver.*"},
		{wire.InboxSubject("node1"), "outrider.inbox.node1"},
		{wire.WebhookSubject("whk_1"), "outrider-webhooks.deliver.whk_1"},
		{wire.WebhookDeliveries, "outrider-webhooks.deliver.>"},
		{wire.DeadLetterSubject("notifications"), "outrider-dlq.notifications"},
		{wire.DeadLetters, "outrider-dlq.>"},
		{wire.Namespaced("", "outrider.order.ord_1"), "outrider.order.ord_1"},
		{wire.Namespaced("staging.", "outrider.order.ord_1"), "staging.outrider.order.ord_1"},
	} {
		require.Equal(t, tc.want, tc.got)
	}
}

// A job's live subject lies outside every subject the events stream
// captures, so the stream never stores the live copy.
func TestJobLiveSubjectOf(t *testing.T) {
	t.Parallel()
	live, ok := wire.JobLiveSubjectOf(wire.JobSubject("usr_d1"))
	require.True(t, ok)
	require.Equal(t, wire.JobLiveSubject("usr_d1"), live)
	for _, stream := range []string{wire.OrderEvents, wire.JobEvents} {
		require.NotEqual(t, strings.TrimSuffix(stream, ">"), live[:len(strings.TrimSuffix(stream, ">"))], stream)
	}
	for _, other := range []string{wire.OrderSubject("ord_1"), wire.LocationSubject("usr_d1"), "outrider.job.", ""} {
		_, ok := wire.JobLiveSubjectOf(other)
		require.False(t, ok, other)
	}
}
