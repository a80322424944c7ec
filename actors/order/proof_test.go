package order_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

func proofCmd(by *pb.Principal, key, contentType string, size int64) *pb.OrderCommand {
	return &pb.OrderCommand{CommandId: nextCmdID(), By: by, AtMs: t0 + 4000,
		Body: &pb.OrderCommand_RecordProof{RecordProof: &pb.RecordProof{Key: key, ContentType: contentType, Size: size}}}
}

// TestRecordProofMatrix: only the assigned driver records proofs, and
// only once the order is accepted (delivered included); the proof joins
// the state, the timeline and the read model.
func TestRecordProofMatrix(t *testing.T) {
	t.Parallel()
	recordable := []string{order.Accepted, order.PickedUp, order.InTransit, order.Delivered}
	for _, f := range fixtures() {
		base := build(t, f.cmds()...)
		for _, by := range []*pb.Principal{admin, customer, otherCust, theDriver, otherDriver} {
			t.Run(f.name+"/"+by.UserId, func(t *testing.T) {
				rel := relationOf(customerID, base.DriverId, by)
				want := ""
				switch {
				case rel == relOtherCust:
					want = actors.CodeNotFound
				case rel != relDriver:
					want = actors.CodeForbidden
				case !slices.Contains(recordable, base.Status):
					want = actors.CodeInvalidTransition
				}
				events, rej := order.Decide(base, proofCmd(by, "proofs/o1/k1", "image/jpeg", 1234))
				if want != "" {
					require.NotNil(t, rej)
					require.Equal(t, want, rej.Code, rej.Message)
					return
				}
				require.Nil(t, rej)
				next := order.Number(base, orderID, events)
				require.Equal(t, base.Status, next.Status, "a proof does not move the status")
				require.Equal(t, []string{"proofs/o1/k1"}, next.ProofKeys)
				require.Equal(t, "order.proof_added", order.EventType(events[0]))
				c, err := order.Effects(base, next, events)
				require.NoError(t, err)
				require.Equal(t, []actors.ProofRow{{OrderID: orderID, Seq: next.Version, Key: "proofs/o1/k1",
					ContentType: "image/jpeg", Size: 1234, ByUserID: driverID, At: c.Events[0].At}}, c.Proofs)
				require.Equal(t, "proofs/o1/k1", c.Timeline[0].Metadata["proof_key"])
				require.Empty(t, c.Loads)
			})
		}
	}
}

func TestRecordProofRules(t *testing.T) {
	t.Parallel()
	accepted := func(t *testing.T) *pb.OrderState {
		return build(t, createCmd(customer, validCreate()), assignCmd(admin, driverID), acceptCmd(theDriver))
	}
	tests := []struct {
		name string
		cmd  *pb.OrderCommand
		code string
	}{
		{"no key", proofCmd(theDriver, "", "image/png", 10), actors.CodeValidation},
		{"zero size", proofCmd(theDriver, "k", "image/png", 0), actors.CodeValidation},
		{"not an image type", proofCmd(theDriver, "k", "text/html", 10), actors.CodeValidation},
		{"webp", proofCmd(theDriver, "k", "image/webp", 10), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rej := order.Decide(accepted(t), tt.cmd)
			if tt.code == "" {
				require.Nil(t, rej)
				return
			}
			require.NotNil(t, rej)
			require.Equal(t, tt.code, rej.Code)
		})
	}

	t.Run("same key twice", func(t *testing.T) {
		s := step(t, accepted(t), proofCmd(theDriver, "k", "image/png", 10))
		_, rej := order.Decide(s, proofCmd(theDriver, "k", "image/png", 10))
		require.NotNil(t, rej)
		require.Equal(t, actors.CodeAlreadyExists, rej.Code)
	})
	t.Run("limit", func(t *testing.T) {
		s := accepted(t)
		for i := range order.MaxProofs {
			s = step(t, s, proofCmd(theDriver, fmt.Sprintf("k%d", i), "image/png", 10))
		}
		_, rej := order.Decide(s, proofCmd(theDriver, "one-more", "image/png", 10))
		require.NotNil(t, rej)
		require.Equal(t, actors.CodeProofLimit, rej.Code)
	})
}

// TestProofRequiredBeforeDelivered: an order created with proof_required
// reaches delivered only after a proof, whoever marks it.
func TestProofRequiredBeforeDelivered(t *testing.T) {
	t.Parallel()
	c := validCreate()
	c.ProofRequired = true
	inTransit := build(t, createCmd(customer, c), assignCmd(admin, driverID), acceptCmd(theDriver),
		statusCmd(theDriver, order.PickedUp, ""), statusCmd(theDriver, order.InTransit, ""))
	require.True(t, inTransit.ProofRequired)
	for _, by := range []*pb.Principal{theDriver, admin} {
		_, rej := order.Decide(inTransit, statusCmd(by, order.Delivered, ""))
		require.NotNil(t, rej, by.UserId)
		require.Equal(t, actors.CodeProofRequired, rej.Code, by.UserId)
	}
	withProof := step(t, inTransit, proofCmd(theDriver, "k", "image/jpeg", 99))
	delivered := step(t, withProof, statusCmd(theDriver, order.Delivered, ""))
	require.Equal(t, order.Delivered, delivered.Status)

	// Without the requirement, delivered needs no proof.
	plain := build(t, createCmd(customer, validCreate()), assignCmd(admin, driverID), acceptCmd(theDriver),
		statusCmd(theDriver, order.PickedUp, ""), statusCmd(theDriver, order.InTransit, ""))
	_, rej := order.Decide(plain, statusCmd(theDriver, order.Delivered, ""))
	require.Nil(t, rej)
}

// TestCanAddProof: a proof of delivery is added to an order its driver
// has accepted, until it leaves the driver other than by delivery
// (DESIGN.md §2–§3), and an order holds at most MaxProofs.
func TestCanAddProof(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status string
		proofs int
		want   string // rejection code, "" to allow
	}{
		{order.Pending, 0, actors.CodeInvalidTransition},
		{order.Assigned, 0, actors.CodeInvalidTransition},
		{order.Accepted, 0, ""},
		{order.PickedUp, 3, ""},
		{order.InTransit, order.MaxProofs - 1, ""},
		{order.Delivered, 0, ""},
		{order.Delivered, order.MaxProofs, actors.CodeProofLimit},
		{order.Accepted, order.MaxProofs + 1, actors.CodeProofLimit},
		{order.Cancelled, 0, actors.CodeInvalidTransition},
		{order.Failed, 0, actors.CodeInvalidTransition},
		{order.Cancelled, order.MaxProofs, actors.CodeInvalidTransition}, // the status is told first
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.status, tt.proofs), func(t *testing.T) {
			t.Parallel()
			rej := order.CanAddProof(tt.status, tt.proofs)
			if tt.want == "" {
				require.Nil(t, rej)
				return
			}
			require.NotNil(t, rej)
			require.Equal(t, tt.want, rej.Code, rej.Message)
		})
	}
}
