package order

import (
	"fmt"

	"github.com/outrider/outrider/actors"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// Payment statuses beyond Unpaid, and the moves between them: an admin
// records a payment (unpaid → paid) and a refund (paid → refunded). The
// order's delivery status does not matter: a cancelled order is refunded,
// a delivered one may be paid late. A refunded order is final.
const (
	Paid     = "paid"
	Refunded = "refunded"
)

// paymentFrom maps each status SetPayment moves to onto the one it must
// come from.
var paymentFrom = map[string]string{Paid: Unpaid, Refunded: Paid}

// MaxPaymentReference bounds SetPayment's reference.
const MaxPaymentReference = 200

func decideSetPayment(s *pb.OrderState, cmd *pb.OrderCommand, p *pb.SetPayment) ([]*pb.OrderEvent, *actors.Rejection) {
	if cmd.GetBy().GetRole() != actors.RoleAdmin {
		return nil, actors.Reject(actors.CodeForbidden, "only admins record payments")
	}
	from, ok := paymentFrom[p.Status]
	if !ok {
		return nil, actors.Reject(actors.CodeValidation, "payment status must be paid or refunded")
	}
	if len(p.Reference) > MaxPaymentReference {
		return nil, actors.Reject(actors.CodeValidation, fmt.Sprintf("reference is at most %d characters", MaxPaymentReference))
	}
	current := s.PaymentStatus
	if current == "" {
		current = Unpaid
	}
	if current != from {
		return nil, actors.Reject(actors.CodeInvalidTransition, fmt.Sprintf("payment cannot go from %s to %s", current, p.Status))
	}
	e := event(cmd)
	e.Body = &pb.OrderEvent_PaymentChanged{PaymentChanged: &pb.PaymentChanged{From: current, To: p.Status, Reference: p.Reference}}
	return []*pb.OrderEvent{e}, nil
}
