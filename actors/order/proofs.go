package order

import (
	"fmt"

	"github.com/outrider/outrider/actors"
)

// CanAddProof says whether an order in status that already holds proofs
// recorded proofs of delivery may take one more, and if not, why:
// invalid_transition before the order is accepted (or once it is
// cancelled or failed), proof_limit_reached at MaxProofs. A delivered
// order still takes proofs.
//
// Decide applies it when the order records a proof. The API applies it
// before presigning an upload, so it hands out no URL whose object could
// never be recorded; that check is advisory, Decide's is the one that
// holds.
func CanAddProof(status string, proofs int) *actors.Rejection {
	if rej := proofStatus(status); rej != nil {
		return rej
	}
	if proofs >= MaxProofs {
		return actors.Reject(actors.CodeProofLimit, fmt.Sprintf("an order holds at most %d proofs", MaxProofs))
	}
	return nil
}

// proofStatus is CanAddProof's status half.
func proofStatus(status string) *actors.Rejection {
	switch status {
	case Accepted, PickedUp, InTransit, Delivered:
		return nil
	}
	return actors.Reject(actors.CodeInvalidTransition,
		fmt.Sprintf("proofs are added once the order is accepted; it is %s", status))
}
