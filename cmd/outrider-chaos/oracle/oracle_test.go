package oracle

import (
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	ord   = "ord_01"
	admin = "usr_admin"
	cust  = "usr_cust"
	drvA  = "usr_drvA"
	drvB  = "usr_drvB"
)

// history is a small builder of one order's operations and the journal
// they committed.
type history struct {
	ops []*Op
	st  *Store
}

func newHistory() *history {
	return &history{st: &Store{Journal: map[string][]JEvent{}, Orders: map[string]OrderRow{},
		Drivers: map[string]DriverRow{
			drvA: {ID: drvA, Available: true, Capacity: 1},
			drvB: {ID: drvB, Available: true, Capacity: 1},
		}}}
}

// op records an operation over [inv, ret] (milliseconds); commit adds its
// event to the journal.
func (h *history) op(o Op, inv, ret int64, commit bool) *Op {
	o.ID = len(h.ops) + 1
	o.Order = ord
	o.CommandID = "idem-" + string(rune('a'+o.ID))
	o.Invoke, o.Return = inv*1e6, ret*1e6
	o.Attempts = 1
	p := &o
	h.ops = append(h.ops, p)
	if commit {
		evs := h.st.Journal[ord]
		e := JEvent{Order: ord, Seq: int64(len(evs) + 1), CommandID: o.CommandID, At: inv * 1e6, Op: o}
		e.Op.Invoke, e.Op.Return = 0, 0
		h.st.Journal[ord] = append(evs, e)
		s := State{}
		for _, e := range h.st.Journal[ord] {
			_, s = Decide(s, &e.Op)
		}
		h.st.Orders[ord] = OrderRow{ID: ord, Status: s.Status, Driver: s.Driver, Version: s.Version}
		if o.HTTP == 0 {
			o.HTTP, p.Result = 200, &View{Status: s.Status, Driver: s.Driver, Version: s.Version}
		}
	}
	return p
}

func refused(code string) Op {
	status := 409
	if code == "forbidden" {
		status = 403
	}
	return Op{HTTP: status, Code: code}
}

func (h *history) check() *Verdict {
	for id, d := range h.st.Drivers {
		d.Active = 0
		for _, o := range h.st.Orders {
			if o.Driver == id && holdsDriver(o.Status) {
				d.Active++
			}
		}
		h.st.Drivers[id] = d
	}
	return Check(Input{Ops: h.ops, Store: h.st})
}

// lifecycle commits create, assign A, accept and picked_up at 10..40 ms.
func lifecycle(h *history) {
	h.op(Op{Kind: Create, By: cust, Role: "customer"}, 0, 5, true)
	h.op(Op{Kind: Assign, By: admin, Role: "admin", Driver: drvA}, 10, 15, true)
	h.op(Op{Kind: Accept, By: drvA, Role: "driver"}, 20, 25, true)
	h.op(Op{Kind: Status, By: drvA, Role: "driver", To: PickedUp}, 30, 35, true)
}

func TestCheckCleanHistory(t *testing.T) {
	h := newHistory()
	lifecycle(h)
	// A racing assign that lost, a wrong driver, a read of version 4.
	r := refused("order_already_assigned")
	r.Kind, r.By, r.Role, r.Driver = Assign, admin, "admin", drvB
	h.op(r, 11, 16, false)
	w := refused("forbidden")
	w.Kind, w.By, w.Role = Accept, drvB, "driver"
	h.op(w, 21, 22, false)
	h.op(Op{Kind: Read, By: admin, Role: "admin", HTTP: 200, Result: &View{Status: PickedUp, Driver: drvA, Version: 4}}, 40, 41, false)
	v := h.check()
	require.Zero(t, v.Violations.Total(), "%+v", v.Violations)
	require.Equal(t, "Ok", v.Linearizability.Result)
}

func TestCheckFindsStaleRefusal(t *testing.T) {
	h := newHistory()
	lifecycle(h)
	// The assigned driver is told it may not touch its order: a stale
	// activation that still thinks the order is pending.
	w := refused("forbidden")
	w.Kind, w.By, w.Role, w.To = Status, drvA, "driver", InTransit
	h.op(w, 50, 52, false)
	v := h.check()
	require.Len(t, v.Violations.WronglyRefused, 1)
	require.Equal(t, "Illegal", v.Linearizability.Result)
}

func TestCheckRefusalDuringACommitIsNotWrong(t *testing.T) {
	h := newHistory()
	h.op(Op{Kind: Create, By: cust, Role: "customer"}, 0, 5, true)
	// Accept sent while the assign was committing: refusing it is right
	// for the state before the assign.
	w := refused("forbidden")
	w.Kind, w.By, w.Role = Accept, drvA, "driver"
	h.op(w, 9, 12, false)
	h.op(Op{Kind: Assign, By: admin, Role: "admin", Driver: drvA}, 10, 15, true)
	v := h.check()
	require.Zero(t, v.Violations.Total(), "%+v", v.Violations)
	require.Equal(t, "Ok", v.Linearizability.Result)
}

func TestCheckFindsLostWriteAndDoubleAssignment(t *testing.T) {
	h := newHistory()
	h.op(Op{Kind: Create, By: cust, Role: "customer"}, 0, 5, true)
	h.op(Op{Kind: Assign, By: admin, Role: "admin", Driver: drvA}, 10, 15, true)
	lost := h.op(Op{Kind: Accept, By: drvA, Role: "driver"}, 20, 25, false)
	lost.HTTP, lost.Result = 200, &View{Status: Accepted, Driver: drvA, Version: 3}
	// A second assign committed on top of the first.
	h.st.Journal[ord] = append(h.st.Journal[ord], JEvent{Order: ord, Seq: 3, CommandID: "idem-x",
		Op: Op{Kind: Assign, By: admin, Role: "admin", Driver: drvB}})
	v := h.check()
	require.Len(t, v.Violations.LostWrites, 1)
	require.Len(t, v.Violations.DoubleAssignments, 1)
}

func TestCheckWatchers(t *testing.T) {
	h := newHistory()
	lifecycle(h)
	for i := range h.st.Journal[ord] {
		h.st.Journal[ord][i].Type = "order.x"
	}
	f := func(seqs ...int64) []Frame {
		var out []Frame
		for _, s := range seqs {
			out = append(out, Frame{Seq: s, Event: "order.x"})
		}
		return out
	}
	h2 := Check(Input{Ops: h.ops, Store: h.st, Streams: []Stream{
		{Watcher: 1, Order: ord, Subscribes: []int64{0, 2}, Events: f(1, 2, 3, 4)},
		{Watcher: 2, Order: ord, Subscribes: []int64{0}, Events: f(1, 3, 4)},
		{Watcher: 3, Order: ord, Subscribes: []int64{0}, Events: f(1, 2, 2, 3, 4)},
		{Watcher: 4, Order: ord, Subscribes: []int64{0}, Events: f(1, 2, 3)},
	}})
	require.Len(t, h2.Violations.WatcherGaps, 2) // watcher 2's hole, watcher 4's missing tail
	require.Len(t, h2.Violations.WatcherDuplicates, 1)
}

func TestOwnerIsStable(t *testing.T) {
	m := []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}
	counts := map[string]int{}
	for i := range 300 {
		o := Owner(string(rune('a'+i%26))+string(rune('a'+i/26)), m)
		require.Equal(t, o, Owner(string(rune('a'+i%26))+string(rune('a'+i/26)), []string{m[2], m[0], m[1]}))
		counts[o]++
	}
	require.Len(t, counts, 3)
}
