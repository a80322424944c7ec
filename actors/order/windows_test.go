package order_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// TestDriverWindows: the trail of an order (GET /v1/orders/:id/track,
// DESIGN.md §3) is its driver's, from the assignment until the order
// leaves them — a decline returns it to pending, delivered, cancelled and
// failed end it (§2). The timelines are written by Effects from real
// commands, so reader and writer of the metadata are checked together.
func TestDriverWindows(t *testing.T) {
	t.Parallel()
	at := func(i int) time.Time { return time.UnixMilli(t0 + int64(i)*1000).UTC() }
	// forward is a fresh accept, picked_up, in_transit (cases run in
	// parallel and the loop stamps each command's time).
	forward := func() []*pb.OrderCommand {
		return []*pb.OrderCommand{acceptCmd(theDriver), statusCmd(theDriver, order.PickedUp, ""),
			statusCmd(theDriver, order.InTransit, "")}
	}
	tests := []struct {
		name string
		cmds []*pb.OrderCommand // after create (command 0)
		want []order.DriverWindow
	}{
		{"never assigned", nil, nil},
		{"assigned, still held", []*pb.OrderCommand{assignCmd(admin, driverID)},
			[]order.DriverWindow{{DriverID: driverID, From: at(1)}}},
		{"delivered", append(append([]*pb.OrderCommand{assignCmd(admin, driverID)}, forward()...),
			statusCmd(theDriver, order.Delivered, "")),
			[]order.DriverWindow{{DriverID: driverID, From: at(1), Until: at(5)}}},
		{"a proof after delivery does not extend the window",
			append(append([]*pb.OrderCommand{assignCmd(admin, driverID)}, forward()...),
				statusCmd(theDriver, order.Delivered, ""), proofCmd(theDriver, "k", "image/png", 10)),
			[]order.DriverWindow{{DriverID: driverID, From: at(1), Until: at(5)}}},
		{"declined, then another driver", []*pb.OrderCommand{assignCmd(admin, driverID), declineCmd(theDriver, ""),
			assignCmd(admin, otherDriverID), acceptCmd(otherDriver)},
			[]order.DriverWindow{{DriverID: driverID, From: at(1), Until: at(2)}, {DriverID: otherDriverID, From: at(3)}}},
		{"declined, then cancelled: the decline ends it", []*pb.OrderCommand{assignCmd(admin, driverID),
			declineCmd(theDriver, ""), statusCmd(customer, order.Cancelled, "")},
			[]order.DriverWindow{{DriverID: driverID, From: at(1), Until: at(2)}}},
		{"cancelled by the customer while assigned", []*pb.OrderCommand{assignCmd(admin, driverID),
			statusCmd(customer, order.Cancelled, "")},
			[]order.DriverWindow{{DriverID: driverID, From: at(1), Until: at(2)}}},
		{"failed by the driver", append([]*pb.OrderCommand{assignCmd(admin, driverID)},
			append(forward(), statusCmd(theDriver, order.Failed, "flat tyre"))...),
			[]order.DriverWindow{{DriverID: driverID, From: at(1), Until: at(5)}}},
		{"cancelled by an admin in transit", append([]*pb.OrderCommand{assignCmd(admin, driverID)},
			append(forward(), statusCmd(admin, order.Cancelled, ""))...),
			[]order.DriverWindow{{DriverID: driverID, From: at(1), Until: at(5)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var timeline []actors.TimelineEntry
			s := (*pb.OrderState)(nil)
			for i, cmd := range append([]*pb.OrderCommand{createCmd(customer, validCreate())}, tt.cmds...) {
				cmd.AtMs = at(i).UnixMilli()
				c := runCommit(t, s, cmd)
				timeline, s = append(timeline, c.commit.Timeline...), c.next
			}
			got := order.DriverWindows(timeline)
			require.Equal(t, tt.want, got)
			if n := len(got); n > 0 {
				require.Equal(t, !order.Terminal(s.Status) && s.DriverId != "", got[n-1].Open())
			}
		})
	}
}
