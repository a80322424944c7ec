package host

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/dispatch/geo"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

func update(id string, lat, lng float64, ts int64, available bool, capacity int32) *pb.ZoneMessage {
	return &pb.ZoneMessage{Body: &pb.ZoneMessage_Update{Update: &pb.ZoneUpdate{
		DriverId: id, Lat: lat, Lng: lng, FixTsMs: ts, Available: available, Capacity: capacity}}}
}

func nearest(q *pb.ZoneNearest) *pb.ZoneMessage {
	return &pb.ZoneMessage{Body: &pb.ZoneMessage_Nearest{Nearest: q}}
}

func ids(h *pb.ZoneHits) []string {
	var out []string
	for _, x := range h.GetHits() {
		out = append(out, x.DriverId)
	}
	return out
}

func TestZoneState(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(1_800_000_000_000)
	ts := now.UnixMilli()
	z := newZoneState()
	require.Nil(t, z.handle(update("a", 52.5200, 13.4050, ts, true, 1), now))
	z.handle(update("b", 52.5210, 13.4050, ts, false, 1), now)
	z.handle(update("c", 52.5230, 13.4050, ts-60_000, true, 1), now)
	z.handle(update("d", 52.5240, 13.4050, ts, true, 0), now)

	all := z.handle(nearest(&pb.ZoneNearest{Lat: 52.5200, Lng: 13.4050, RadiusM: 5000, Limit: 10}), now)
	require.Empty(t, all.Error)
	require.Equal(t, []string{"a", "b", "c", "d"}, ids(all))
	require.InDelta(t, geo.DistanceM(52.52, 13.405, 52.521, 13.405), all.Hits[1].DistanceM, 1e-6)
	require.Equal(t, ts, all.Hits[0].FixTsMs)
	require.False(t, all.Hits[1].Available)

	avail := z.handle(nearest(&pb.ZoneNearest{Lat: 52.52, Lng: 13.405, RadiusM: 5000, Limit: 10, AvailableOnly: true}), now)
	require.Equal(t, []string{"a", "c"}, ids(avail), "b is unavailable, d has no capacity")

	fresh := z.handle(nearest(&pb.ZoneNearest{Lat: 52.52, Lng: 13.405, RadiusM: 5000, Limit: 10, MaxFixAgeMs: 30_000}), now)
	require.Equal(t, []string{"a", "b", "d"}, ids(fresh), "c's fix is a minute old")

	ex := z.handle(nearest(&pb.ZoneNearest{Lat: 52.52, Lng: 13.405, RadiusM: 150, Limit: 1, Exclude: []string{"a"}}), now)
	require.Equal(t, []string{"b"}, ids(ex), "radius 150 m, a excluded, limit 1")

	z.handle(update("a", 52.5300, 13.4050, ts+1000, true, 1), now) // a moves
	z.handle(&pb.ZoneMessage{Body: &pb.ZoneMessage_Remove{Remove: &pb.ZoneRemove{DriverId: "b"}}}, now)
	moved := z.handle(nearest(&pb.ZoneNearest{Lat: 52.52, Lng: 13.405, RadiusM: 5000, Limit: 10}), now)
	require.Equal(t, []string{"c", "d", "a"}, ids(moved))

	bad := z.handle(nearest(&pb.ZoneNearest{Lat: 95, Lng: 0, RadiusM: 10, Limit: 1}), now)
	require.NotEmpty(t, bad.Error)
}

type zoneLog struct {
	mu  sync.Mutex
	got []string // "zone update id available capacity" or "zone remove id"
}

func (l *zoneLog) TellZone(zone string, msg *pb.ZoneMessage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if u := msg.GetUpdate(); u != nil {
		l.got = append(l.got, zone+" update "+u.DriverId)
	} else {
		l.got = append(l.got, zone+" remove "+msg.GetRemove().GetDriverId())
	}
}

func TestTellZones(t *testing.T) {
	t.Parallel()
	log := &zoneLog{}
	h := New(Config{Zones: log})
	fix := func(lat, lng float64) *pb.Fix { return &pb.Fix{Lat: lat, Lng: lng, TsMs: 1} }
	here, near, far := fix(52.52, 13.405), fix(52.521, 13.405), fix(52.52, 13.8)
	zHere, zFar := geo.ZoneOf(52.52, 13.405), geo.ZoneOf(52.52, 13.8)
	require.NotEqual(t, zHere, zFar)

	h.tellZones("d", &pb.DriverState{}, &pb.DriverState{Available: true, Capacity: 2})         // no fix: no zone
	h.tellZones("d", &pb.DriverState{}, &pb.DriverState{LastLocation: here})                   // first fix
	h.tellZones("d", &pb.DriverState{LastLocation: here}, &pb.DriverState{LastLocation: near}) // same zone
	h.tellZones("d", &pb.DriverState{LastLocation: near}, &pb.DriverState{LastLocation: far})  // crosses
	h.tellZones("d", nil, &pb.DriverState{LastLocation: far, Available: true})                 // availability
	require.Equal(t, []string{
		zHere + " update d", zHere + " update d", zHere + " remove d", zFar + " update d", zFar + " update d",
	}, log.got)
}

type discardZones struct{}

func (discardZones) TellZone(string, *pb.ZoneMessage) {}

// BenchmarkFixFeedsZone is the cost the zone feed adds to every accepted
// fix (two zone keys and one message; the Tell itself is the cluster's).
func BenchmarkFixFeedsZone(b *testing.B) {
	h := New(Config{Zones: discardZones{}})
	prev := &pb.DriverState{Available: true, Capacity: 2, LastLocation: &pb.Fix{Lat: 52.52, Lng: 13.405, TsMs: 1}}
	next := &pb.DriverState{Available: true, Capacity: 2, LastLocation: &pb.Fix{Lat: 52.5201, Lng: 13.405, TsMs: 2}}
	b.ReportAllocs()
	for b.Loop() {
		h.tellZones("usr_a", prev, next)
	}
}
