package order_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

func paymentCmd(by *pb.Principal, status, ref string) *pb.OrderCommand {
	return &pb.OrderCommand{CommandId: nextCmdID(), By: by, AtMs: t0 + 5000,
		Body: &pb.OrderCommand_SetPayment{SetPayment: &pb.SetPayment{Status: status, Reference: ref}}}
}

// TestPayment: admins record a payment (unpaid → paid) and a refund (paid
// → refunded), whatever the delivery status; nothing else moves it.
func TestPayment(t *testing.T) {
	t.Parallel()
	pending := func(t *testing.T) *pb.OrderState { return build(t, createCmd(customer, validCreate())) }
	paid := func(t *testing.T) *pb.OrderState { return step(t, pending(t), paymentCmd(admin, order.Paid, "pi_1")) }
	refunded := func(t *testing.T) *pb.OrderState { return step(t, paid(t), paymentCmd(admin, order.Refunded, "")) }
	cancelled := func(t *testing.T) *pb.OrderState {
		return step(t, paid(t), statusCmd(customer, order.Cancelled, ""))
	}
	for _, tc := range []struct {
		name   string
		state  func(*testing.T) *pb.OrderState
		cmd    *pb.OrderCommand
		want   string // the payment status after, or the rejection code
		reject bool
	}{
		{"paid", pending, paymentCmd(admin, order.Paid, "pi_1"), order.Paid, false},
		{"refunded once paid", paid, paymentCmd(admin, order.Refunded, "re_1"), order.Refunded, false},
		{"refunded after a cancel", cancelled, paymentCmd(admin, order.Refunded, ""), order.Refunded, false},
		{"not refunded unpaid", pending, paymentCmd(admin, order.Refunded, ""), actors.CodeInvalidTransition, true},
		{"not paid twice", paid, paymentCmd(admin, order.Paid, ""), actors.CodeInvalidTransition, true},
		{"not paid after a refund", refunded, paymentCmd(admin, order.Paid, ""), actors.CodeInvalidTransition, true},
		{"not back to unpaid", paid, paymentCmd(admin, order.Unpaid, ""), actors.CodeValidation, true},
		{"a reference has a limit", pending, paymentCmd(admin, order.Paid, strings.Repeat("x", order.MaxPaymentReference+1)), actors.CodeValidation, true},
		{"customers do not", pending, paymentCmd(customer, order.Paid, ""), actors.CodeForbidden, true},
		{"drivers do not", pending, paymentCmd(theDriver, order.Paid, ""), actors.CodeForbidden, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.state(t)
			events, rej := order.Decide(s, tc.cmd)
			if tc.reject {
				require.NotNil(t, rej)
				require.Equal(t, tc.want, rej.Code)
				return
			}
			require.Nil(t, rej)
			next := order.Number(s, orderID, events)
			require.Equal(t, tc.want, next.PaymentStatus)
			require.Equal(t, tc.want, order.Row(next).PaymentStatus, "the read model shows it")
			require.Equal(t, s.Status, next.Status, "the delivery status does not move")
			c, err := order.Effects(s, next, events)
			require.NoError(t, err)
			require.Equal(t, "order.payment_changed", c.Events[0].Type)
			require.Equal(t, tc.want, c.Timeline[0].Metadata["to"])
			require.Len(t, c.Outbox, 1, "published, so webhooks hear of it")
		})
	}
}
