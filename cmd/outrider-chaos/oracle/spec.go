package oracle

// The order's rules (DESIGN.md §2), written again from the design rather
// than imported from actors/order, for the commands the harness sends.

// Order statuses.
const (
	Pending   = "pending"
	Assigned  = "assigned"
	Accepted  = "accepted"
	PickedUp  = "picked_up"
	InTransit = "in_transit"
	Delivered = "delivered"
	Cancelled = "cancelled"
	Failed    = "failed"
)

// State is one order's committed state as far as the oracle follows it.
// It is comparable, so porcupine's default equality works on it.
type State struct {
	Exists   bool
	Status   string
	Driver   string
	Customer string
	Version  int64
}

// View is the state as an API answer shows it.
func (s State) View() View { return View{Status: s.Status, Driver: s.Driver, Version: s.Version} }

// holdsDriver: the order occupies its driver's capacity.
func holdsDriver(status string) bool {
	switch status {
	case Assigned, Accepted, PickedUp, InTransit:
		return true
	}
	return false
}

func terminal(status string) bool {
	return status == Delivered || status == Cancelled || status == Failed
}

// progress: the status each forward status change must come from.
var progress = map[string]string{PickedUp: Accepted, InTransit: PickedUp, Delivered: InTransit}

// Decide returns the refusal code the command gets in state s ("" when it
// is valid) and the state after it. It ignores the driver's own capacity:
// an assign that is valid here may still be refused driver_unavailable,
// which only the cross-order checks can judge.
func Decide(s State, op *Op) (code string, next State) {
	if op.Kind == Create {
		if s.Exists {
			return "already_exists", s
		}
		c := op.Customer
		if c == "" {
			c = op.By
		}
		return "", State{Exists: true, Status: Pending, Customer: c, Version: 1}
	}
	if !s.Exists {
		return "not_found", s
	}
	if op.Role == "customer" && op.By != s.Customer {
		return "not_found", s
	}
	next = s
	next.Version = s.Version + 1
	isDriver := op.Role == "driver" && s.Driver != "" && s.Driver == op.By
	admin := op.Role == "admin"
	switch op.Kind {
	case Assign:
		if !admin {
			return "forbidden", s
		}
		switch {
		case s.Status == Pending:
		case holdsDriver(s.Status):
			return "order_already_assigned", s
		default:
			return "invalid_transition", s
		}
		next.Status, next.Driver = Assigned, op.Driver
	case Accept, Decline:
		if !isDriver {
			return "forbidden", s
		}
		if s.Status != Assigned {
			return "invalid_transition", s
		}
		if op.Kind == Accept {
			next.Status = Accepted
		} else {
			next.Status, next.Driver = Pending, ""
		}
	case Status:
		switch op.To {
		case PickedUp, InTransit, Delivered:
			if !admin && !isDriver {
				return "forbidden", s
			}
			if s.Status != progress[op.To] {
				return "invalid_transition", s
			}
		case Cancelled:
			customer := op.Role == "customer" && op.By == s.Customer
			switch {
			case admin:
				if terminal(s.Status) {
					return "invalid_transition", s
				}
			case customer:
				if s.Status != Pending && s.Status != Assigned && s.Status != Accepted {
					return "invalid_transition", s
				}
			default:
				return "forbidden", s
			}
		default:
			return "validation_failed", s
		}
		next.Status = op.To
	default:
		return "unsupported", s
	}
	return "", next
}

// Release reports whether an event from s to next frees the driver s held.
func Release(s, next State) bool {
	return holdsDriver(s.Status) && !holdsDriver(next.Status)
}
