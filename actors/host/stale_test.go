package host_test

// DESIGN.md §8, "no actor answers from stale state": an activation that
// loaded an order before another activation's commit must not refuse a
// command that is valid on the committed state. The fence on commits never
// sees a refusal (nothing is written), so the actor confirms its version
// against the store before it refuses, and decides again when it is behind.

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

func acceptCmd(driverID string) *pb.OrderCommand {
	c := cmd(&pb.Principal{UserId: driverID, Role: actors.RoleDriver})
	c.Body = &pb.OrderCommand_Accept{Accept: &pb.AcceptOrder{}}
	return c
}

func statusCmd(by *pb.Principal, status string) *pb.OrderCommand {
	c := cmd(by)
	c.Body = &pb.OrderCommand_ChangeStatus{ChangeStatus: &pb.ChangeStatus{Status: status}}
	return c
}

func TestStaleActivationCannotRefuseAValidCommand(t *testing.T) {
	t.Parallel()
	driver := func(id string) *pb.Principal { return &pb.Principal{UserId: id, Role: actors.RoleDriver} }
	cases := []struct {
		name string
		// moves are committed through the current activation after the
		// stale one has loaded the new order (at version 1).
		moves func(d1 string) []*pb.OrderCommand
		// ask is sent to the stale activation: valid on the committed
		// state, refused on the stale one.
		ask func(d1, d2 string) *pb.OrderCommand
		// want is the answer the committed state calls for: "" for
		// success, else the rejection code.
		want       string
		wantStatus string
	}{
		{
			name:  "assigned driver accepts (stale copy: pending, not his order)",
			moves: func(d1 string) []*pb.OrderCommand { return []*pb.OrderCommand{assignCmd(d1)} },
			ask:   func(d1, _ string) *pb.OrderCommand { return acceptCmd(d1) },
			want:  "", wantStatus: order.Accepted,
		},
		{
			name: "driver picks up an accepted order (stale copy: pending)",
			moves: func(d1 string) []*pb.OrderCommand {
				return []*pb.OrderCommand{assignCmd(d1), acceptCmd(d1)}
			},
			ask:  func(d1, _ string) *pb.OrderCommand { return statusCmd(driver(d1), order.PickedUp) },
			want: "", wantStatus: order.PickedUp,
		},
		{
			name:  "a refusal the committed state calls for is still given",
			moves: func(d1 string) []*pb.OrderCommand { return []*pb.OrderCommand{assignCmd(d1)} },
			// Refused on both copies (picked up before accepting), and
			// the answer is the truth's: after the re-decision.
			ask:  func(d1, _ string) *pb.OrderCommand { return statusCmd(driver(d1), order.PickedUp) },
			want: actors.CodeInvalidTransition, wantStatus: order.Assigned,
		},
		{
			name:  "another driver's accept stays refused",
			moves: func(d1 string) []*pb.OrderCommand { return []*pb.OrderCommand{assignCmd(d1)} },
			// Forbidden on both copies: confirming changes nothing.
			ask:  func(_, d2 string) *pb.OrderCommand { return acceptCmd(d2) },
			want: actors.CodeForbidden, wantStatus: order.Assigned,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			d1, d2 := b.seedDriver(t, 1), b.seedDriver(t, 1)
			id := newID("ord")
			current := b.spawn(actors.KindOrder, id)
			require.Nil(t, b.order(t, current, createCmd()).GetRejection())
			stale := b.spawn(actors.KindOrder, id)
			require.Equal(t, int64(1), b.order(t, stale, getCmd()).GetOrder().GetVersion(), "the stale copy loaded version 1")
			for _, m := range tc.moves(d1) {
				require.Nil(t, b.order(t, current, m).GetRejection())
			}

			reply := b.order(t, stale, tc.ask(d1, d2))
			require.Equal(t, tc.want, reply.GetRejection().GetCode(), "answer of the stale activation: %v", reply.GetRejection())
			row, err := b.store.GetOrder(t.Context(), id)
			require.NoError(t, err)
			require.Equal(t, tc.wantStatus, row.Status)
		})
	}
}
