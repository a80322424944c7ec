package bus_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/driver"
	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/actors/user"
	"github.com/outrider/outrider/wire"
)

// TestRelay_StreamStoresOrderEventsOnly: with the default subjects, the
// events stream stores the relayed order events and drivers' jobs (every
// outbox subject) and nothing else that
// travels under the namespace on core NATS — not a driver's live fixes
// (one a second per driver, for the stream's 7 days) nor gateway inbox
// pushes.
func TestRelay_StreamStoresOrderEventsOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg := b.config()
	cfg.Subjects, cfg.Namespace = nil, b.prefix
	b.startRelay(t, cfg, nil, nil)

	nc, err := nats.Connect(natsURL(), nats.Timeout(5*time.Second))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	for i := range 50 {
		require.NoError(t, nc.Publish(b.prefix+driver.LocationSubject("usr_d1"), []byte(`{"lat":1,"lng":2}`)), "fix %d", i)
		require.NoError(t, nc.Publish(b.prefix+user.InboxSubject("node1"), []byte(`{}`)))
	}
	require.NoError(t, nc.Flush())

	at := time.Now().UTC()
	var c actors.Commit
	for seq := int64(1); seq <= 3; seq++ {
		eid := order.EventID("ord_1", seq)
		c.Events = append(c.Events, actors.Event{Kind: actors.KindOrder, EntityID: "ord_1", Seq: seq,
			Type: "order.created", Payload: []byte(eid), CommandID: "cmd-" + eid, At: at})
		c.Outbox = append(c.Outbox, actors.OutboxMessage{ID: eid, Subject: order.Subject("ord_1"), Payload: []byte(`{}`), At: at})
	}
	c.Outbox = append(c.Outbox, actors.OutboxMessage{ID: wire.JobEventID("ord_1", 2), Subject: wire.JobSubject("usr_d1"),
		Payload: []byte(`{}`), At: at})
	require.NoError(t, b.store.Commit(t.Context(), c))
	eventually(t, 10*time.Second, func() bool { return b.streamMsgs(t) >= 4 }, "the order events and the job are relayed")
	require.Equal(t, uint64(4), b.streamMsgs(t), "the stream holds the order events and the job only")
}
