package host_test

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/dispatch/geo"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// A zone activation answers queries from what it was told, forgets it all
// when it passivates, and is refilled by the next update: what GET
// /v1/drivers/nearby relies on, since drivers send fixes every few
// seconds while online.
func TestZoneActorPassivatesAndIsRefilled(t *testing.T) {
	t.Parallel()
	const idle = 300 * time.Millisecond
	b := setupIdle(t, idle)
	zone := geo.ZoneOf(52.52, 13.405)
	update := &pb.ZoneMessage{Body: &pb.ZoneMessage_Update{Update: &pb.ZoneUpdate{
		DriverId: "usr_a", Lat: 52.52, Lng: 13.405, FixTsMs: time.Now().UnixMilli(), Available: true, Capacity: 1}}}
	query := &pb.ZoneMessage{Body: &pb.ZoneMessage_Nearest{Nearest: &pb.ZoneNearest{
		Lat: 52.5201, Lng: 13.405, RadiusM: 1000, Limit: 5}}}
	hits := func(pid *actor.PID) []string {
		t.Helper()
		r, err := b.ask(pid, query)
		require.NoError(t, err)
		h, ok := r.(*pb.ZoneHits)
		require.True(t, ok, "reply %T", r)
		require.Empty(t, h.GetError())
		var ids []string
		for _, x := range h.GetHits() {
			ids = append(ids, x.DriverId)
		}
		return ids
	}

	pid := b.spawn(actors.KindZone, zone)
	stopped := b.watch(pid)
	b.system.Root.Send(pid, update) // told, as the driver actor does
	require.Equal(t, []string{"usr_a"}, hits(pid))
	requireStops(t, stopped, "the idle zone")

	again := b.spawn(actors.KindZone, zone)
	require.Empty(t, hits(again), "a new activation starts empty")
	b.system.Root.Send(again, update)
	require.Equal(t, []string{"usr_a"}, hits(again), "the next fix refills it")
}
