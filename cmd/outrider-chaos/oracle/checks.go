package oracle

import (
	"fmt"
	"hash/fnv"
	"sort"
	"time"
)

// Input is everything the oracle judges.
type Input struct {
	Ops     []*Op
	Store   *Store
	Streams []Stream
	Faults  []Fault
	// LinearizeTimeout bounds porcupine per order (default 10 s).
	LinearizeTimeout time.Duration
	// Dir, if set, receives visualizations of non-linearizable histories.
	Dir string
}

// Violation is one proven breach, with what shows it.
type Violation struct {
	Order  string `json:"order,omitempty"`
	Op     int    `json:"op,omitempty"`
	Detail string `json:"detail"`
}

// Violations are the breaches by class. Every class must be empty.
type Violations struct {
	// LostWrites: acknowledged (2xx) commands missing from the journal, or
	// at another seq than the answer said (I3).
	LostWrites []Violation `json:"lost_writes"`
	// DoubleAssignments: an order assigned while it held a driver (I1).
	DoubleAssignments []Violation `json:"double_assignments"`
	// CapacityBreaches: a driver holding more orders than its capacity at
	// one moment, or at the end (I2).
	CapacityBreaches []Violation `json:"capacity_breaches"`
	// WronglyRefused: a 403/409 to a command that was valid in every
	// committed state current between its invoke and return (§8).
	WronglyRefused []Violation `json:"wrongly_refused"`
	// RefusedButCommitted: a refused command whose event is in the journal.
	RefusedButCommitted []Violation `json:"refused_but_committed"`
	// InvalidCommits: journal transitions the rules forbid (other than
	// double assignments), gaps in an order's seqs, events nobody sent.
	InvalidCommits []Violation `json:"invalid_commits"`
	// ReadModel: orders rows that disagree with their journal; drivers
	// whose active_orders disagrees with the orders they hold.
	ReadModel []Violation `json:"read_model"`
	// WatcherGaps and WatcherDuplicates: I4 on every watcher stream;
	// WatcherMismatches: a frame whose event is not the journal's at its seq.
	WatcherGaps       []Violation `json:"watcher_gaps"`
	WatcherDuplicates []Violation `json:"watcher_duplicates"`
	WatcherMismatches []Violation `json:"watcher_mismatches"`
	// Nonlinearizable: orders whose history porcupine finds illegal.
	Nonlinearizable []Violation `json:"nonlinearizable"`
}

// Total counts every violation.
func (v *Violations) Total() int {
	return len(v.LostWrites) + len(v.DoubleAssignments) + len(v.CapacityBreaches) +
		len(v.WronglyRefused) + len(v.RefusedButCommitted) + len(v.InvalidCommits) +
		len(v.ReadModel) + len(v.WatcherGaps) + len(v.WatcherDuplicates) +
		len(v.WatcherMismatches) + len(v.Nonlinearizable)
}

// Counts summarise the history.
type Counts struct {
	Orders     int `json:"orders"`
	Ops        int `json:"ops"`
	Writes     int `json:"writes"`
	Acked      int `json:"acked"`
	Refused    int `json:"refused"`
	Failed     int `json:"failed"`     // no definite answer after every retry
	Retried    int `json:"retried"`    // operations that needed more than one attempt
	Attempts   int `json:"attempts"`   // HTTP requests sent
	Journal    int `json:"journal"`    // committed order events
	Streams    int `json:"streams"`    // watcher streams (watcher × order)
	Frames     int `json:"frames"`     // event frames received
	Indefinite int `json:"indefinite"` // failed writes: committed or not, the journal decides
	Committed  int `json:"committed_indefinite"`
}

// Failover is, for one kill, how long the orders whose actor lived on the
// killed node could not be advanced.
type Failover struct {
	Node string `json:"node"`
	At   int64  `json:"at"`
	// OwnerKnown: the members were known, so Affected are exactly the
	// orders the killed node owned (rendezvous hashing, as the cluster
	// places them); otherwise every order with traffic at the kill.
	OwnerKnown bool `json:"owner_known"`
	Affected   int  `json:"affected"`
	// Delays from the kill (or the command's sending, if later) to the
	// first acknowledged command of each affected order; Unrecovered
	// affected orders never got one.
	P50         time.Duration `json:"p50"`
	P90         time.Duration `json:"p90"`
	Max         time.Duration `json:"max"`
	Unrecovered int           `json:"unrecovered"`
	Delays      []float64     `json:"delays_s,omitempty"`
}

// Window is the failure rate of the operations in flight during a fault.
type Window struct {
	Kind   string  `json:"kind"`
	From   int64   `json:"from"`
	To     int64   `json:"to"`
	Ops    int     `json:"ops"`
	Failed int     `json:"failed"`
	Rate   float64 `json:"rate"` // Failed / Ops
	// FirstTry counts the operations whose first attempt failed, i.e.
	// what a client without retries would have seen.
	FirstTry int `json:"first_try_failures"`
}

// Verdict is the oracle's answer.
type Verdict struct {
	Counts          Counts          `json:"counts"`
	Violations      Violations      `json:"violations"`
	Linearizability Linearizability `json:"linearizability"`
	Failovers       []Failover      `json:"failovers"`
	Windows         []Window        `json:"windows"`
}

// OK reports a run without violations and with every history
// linearizable (a porcupine time-out is not a proof either way and is
// reported separately).
func (v *Verdict) OK() bool {
	return v.Violations.Total() == 0 && v.Linearizability.Result != "Illegal"
}

// Check judges a run.
func Check(in Input) *Verdict {
	if in.LinearizeTimeout == 0 {
		in.LinearizeTimeout = 10 * time.Second
	}
	v := &Verdict{}
	c := newChecker(in)
	c.count(&v.Counts)
	c.journal(&v.Violations)
	c.acks(&v.Violations, &v.Counts)
	c.refusals(&v.Violations)
	c.capacity(&v.Violations)
	c.watchers(&v.Violations)
	v.Linearizability = CheckLinearizable(in.Ops, in.LinearizeTimeout, in.Dir)
	for _, id := range v.Linearizability.Illegal {
		v.Violations.Nonlinearizable = append(v.Violations.Nonlinearizable,
			Violation{Order: id, Detail: "no sequential order of the order's operations explains their answers"})
	}
	v.Failovers = c.failovers()
	v.Windows = c.windows()
	return v
}

type checker struct {
	in    Input
	st    *Store
	byCmd map[string]*Op
	byOrd map[string][]*Op
	// states[o][k] is order o's state after its k-th event (states[o][0]
	// is "not created"); lo/hi[o][k-1] bound the k-th event's commit.
	states map[string][]State
	lo, hi map[string][]int64
}

func newChecker(in Input) *checker {
	c := &checker{in: in, st: in.Store, byCmd: map[string]*Op{}, byOrd: map[string][]*Op{},
		states: map[string][]State{}, lo: map[string][]int64{}, hi: map[string][]int64{}}
	if c.st == nil {
		c.st = &Store{}
	}
	for _, op := range in.Ops {
		if op.CommandID != "" {
			c.byCmd[op.CommandID] = op
		}
		if op.Order != "" {
			c.byOrd[op.Order] = append(c.byOrd[op.Order], op)
		}
	}
	for id, evs := range c.st.Journal {
		states := make([]State, len(evs)+1)
		lo := make([]int64, len(evs))
		hi := make([]int64, len(evs))
		for k, e := range evs {
			_, states[k+1] = Decide(states[k], &e.Op)
			states[k+1].Version = e.Seq
			lo[k], hi[k] = e.At, maxTime
			if op := c.byCmd[e.CommandID]; op != nil {
				lo[k] = max(lo[k], op.Invoke)
				if op.Acked() {
					hi[k] = op.Return
				}
			}
		}
		// Reads bound commits too: a read that saw version v returned
		// after event v committed and started before event v+1 did.
		for _, op := range c.byOrd[id] {
			if op.Kind != Read || !op.Acked() || op.Result == nil {
				continue
			}
			if k := int(op.Result.Version); k >= 1 && k <= len(evs) {
				hi[k-1] = min(hi[k-1], op.Return)
				if k < len(evs) {
					lo[k] = max(lo[k], op.Invoke)
				}
			}
		}
		for k := 1; k < len(evs); k++ {
			lo[k] = max(lo[k], lo[k-1])
		}
		for k := len(evs) - 2; k >= 0; k-- {
			hi[k] = min(hi[k], hi[k+1])
		}
		c.states[id], c.lo[id], c.hi[id] = states, lo, hi
	}
	return c
}

func (c *checker) count(n *Counts) {
	n.Orders = len(c.byOrd)
	n.Ops = len(c.in.Ops)
	for _, op := range c.in.Ops {
		n.Attempts += op.Attempts
		if op.Attempts > 1 {
			n.Retried++
		}
		if op.IsWrite() {
			n.Writes++
		}
		switch {
		case op.Acked():
			n.Acked++
		case op.Refused():
			n.Refused++
		default:
			n.Failed++
		}
	}
	for _, evs := range c.st.Journal {
		n.Journal += len(evs)
	}
	n.Streams = len(c.in.Streams)
	for _, s := range c.in.Streams {
		n.Frames += len(s.Events)
	}
}

// journal checks each order's committed transitions against the rules
// and the read model against the journal.
func (c *checker) journal(v *Violations) {
	for _, id := range sortedKeys(c.st.Journal) {
		evs := c.st.Journal[id]
		s := State{}
		for k, e := range evs {
			if e.Seq != int64(k+1) {
				v.InvalidCommits = append(v.InvalidCommits, Violation{Order: id,
					Detail: fmt.Sprintf("journal seq %d at position %d: the seqs have a gap", e.Seq, k+1)})
			}
			code, next := Decide(s, &e.Op)
			switch {
			case code == "order_already_assigned":
				v.DoubleAssignments = append(v.DoubleAssignments, Violation{Order: id,
					Detail: fmt.Sprintf("seq %d assigns driver %s while driver %s holds the order (%s)", e.Seq, e.Op.Driver, s.Driver, s.Status)})
			case code != "":
				v.InvalidCommits = append(v.InvalidCommits, Violation{Order: id,
					Detail: fmt.Sprintf("seq %d %s by %s %s from %s: %s", e.Seq, e.Type, e.Op.Role, e.Op.By, s.Status, code)})
			}
			if e.CommandID == "" || c.byCmd[e.CommandID] == nil {
				v.InvalidCommits = append(v.InvalidCommits, Violation{Order: id,
					Detail: fmt.Sprintf("seq %d %s has command id %q, which the harness never sent", e.Seq, e.Type, e.CommandID)})
			}
			next.Version = e.Seq
			s = next
		}
		row, ok := c.st.Orders[id]
		if !ok {
			v.ReadModel = append(v.ReadModel, Violation{Order: id, Detail: "order has journal events but no orders row"})
			continue
		}
		if got := (View{Status: row.Status, Driver: row.Driver, Version: row.Version}); got != s.View() {
			v.ReadModel = append(v.ReadModel, Violation{Order: id,
				Detail: fmt.Sprintf("orders row %+v, journal says %+v", got, s.View())})
		}
	}
	for _, id := range sortedKeys(c.st.Orders) {
		if _, ok := c.st.Journal[id]; !ok {
			v.ReadModel = append(v.ReadModel, Violation{Order: id, Detail: "orders row without journal events"})
		}
	}
}

// acks checks that every acknowledged command is in the journal at the
// seq it was answered with, and counts what became of the failed ones.
func (c *checker) acks(v *Violations, n *Counts) {
	at := map[string]JEvent{}
	for _, evs := range c.st.Journal {
		for _, e := range evs {
			at[e.CommandID] = e
		}
	}
	for _, op := range c.in.Ops {
		if !op.IsWrite() {
			continue
		}
		e, committed := at[op.CommandID]
		switch {
		case op.Acked():
			switch {
			case !committed:
				v.LostWrites = append(v.LostWrites, Violation{Order: op.Order, Op: op.ID,
					Detail: fmt.Sprintf("%s answered %d (version %d) but is not in the journal", describe(op), op.HTTP, op.Result.Version)})
			case e.Order != op.Order || op.Result == nil || e.Seq != op.Result.Version:
				v.LostWrites = append(v.LostWrites, Violation{Order: op.Order, Op: op.ID,
					Detail: fmt.Sprintf("%s answered version %d but committed as %s seq %d", describe(op), op.Result.Version, e.Order, e.Seq)})
			}
		case op.Refused():
			if committed {
				v.RefusedButCommitted = append(v.RefusedButCommitted, Violation{Order: op.Order, Op: op.ID,
					Detail: fmt.Sprintf("%s was refused but committed as seq %d", describe(op), e.Seq)})
			}
		default:
			n.Indefinite++
			if committed {
				n.Committed++
			}
		}
	}
}

// possible returns the states of order id that can have been the
// committed one at some moment of [from, to].
func (c *checker) possible(id string, from, to int64) []State {
	states, lo, hi := c.states[id], c.lo[id], c.hi[id]
	if states == nil {
		return []State{{}}
	}
	var out []State
	for k := range states {
		if k > 0 && lo[k-1] > to {
			break
		}
		if k < len(hi) && hi[k] < from {
			continue
		}
		out = append(out, states[k])
	}
	return out
}

// refusals finds refusals that contradict every committed state the
// refused command can have met.
func (c *checker) refusals(v *Violations) {
	holds := c.holdIntervals()
	for _, op := range c.in.Ops {
		if !op.IsWrite() || !op.Refused() {
			continue
		}
		var seen []string
		valid := true
		for _, s := range c.possible(op.Order, op.Invoke, op.end()) {
			code, _ := Decide(s, op)
			if code != "" {
				valid = false
				break
			}
			seen = append(seen, fmt.Sprintf("v%d %s", s.Version, s.Status))
		}
		if !valid {
			continue
		}
		if op.Code == "driver_unavailable" {
			d, ok := c.st.Drivers[op.Driver]
			if !ok || !d.Available || busyDuring(holds[op.Driver], d.Capacity, op.Invoke, op.end()) {
				continue
			}
		}
		v.WronglyRefused = append(v.WronglyRefused, Violation{Order: op.Order, Op: op.ID,
			Detail: fmt.Sprintf("%s, valid in every state committed meanwhile (%v); took %s", describe(op), seen, Duration(op.end()-op.Invoke))})
	}
}

// hold is when an order may have held a driver (outer: from the earliest
// possible assign commit to the latest possible release) and when it
// certainly did (inner, empty when the bounds do not allow it).
type hold struct {
	order                       string
	outerFrom, outerTo          int64
	innerFrom, innerTo          int64
	assignSeq, releaseSeq       int64
	assignUnbounded, neverFreed bool
}

// holdIntervals lists every driver's holds from the journal.
func (c *checker) holdIntervals() map[string][]hold {
	out := map[string][]hold{}
	for id, states := range c.states {
		lo, hi := c.lo[id], c.hi[id]
		for k := 1; k < len(states); k++ {
			if !holdsDriver(states[k].Status) || holdsDriver(states[k-1].Status) {
				continue
			}
			h := hold{order: id, outerFrom: lo[k-1], innerFrom: hi[k-1], outerTo: maxTime, innerTo: maxTime,
				assignSeq: int64(k), assignUnbounded: hi[k-1] == maxTime, neverFreed: true}
			for j := k + 1; j < len(states); j++ {
				if Release(states[j-1], states[j]) {
					h.outerTo, h.innerTo, h.releaseSeq, h.neverFreed = hi[j-1], lo[j-1], int64(j), false
					break
				}
			}
			out[states[k].Driver] = append(out[states[k].Driver], h)
		}
	}
	return out
}

// busyDuring reports whether the driver may have been at capacity at
// some moment of [from, to]: fewer than capacity holds may overlap
// the window otherwise.
func busyDuring(hs []hold, capacity int, from, to int64) bool {
	n := 0
	for _, h := range hs {
		if h.outerFrom <= to && h.outerTo >= from {
			n++
		}
	}
	return n >= max(capacity, 1)
}

// capacity finds drivers that certainly held more orders than their
// capacity at one moment, and checks the drivers table at the end.
func (c *checker) capacity(v *Violations) {
	holds := c.holdIntervals()
	for _, drv := range sortedKeys(holds) {
		capa := 1
		if d, ok := c.st.Drivers[drv]; ok {
			capa = d.Capacity
		}
		type edge struct {
			t     int64
			delta int
			order string
		}
		var edges []edge
		for _, h := range holds[drv] {
			if h.assignUnbounded || h.innerFrom > h.innerTo {
				continue
			}
			edges = append(edges, edge{h.innerFrom, +1, h.order}, edge{h.innerTo, -1, h.order})
		}
		sort.Slice(edges, func(i, j int) bool {
			if edges[i].t != edges[j].t {
				return edges[i].t < edges[j].t
			}
			return edges[i].delta < edges[j].delta // a release before an assign at the same instant
		})
		n := 0
		active := map[string]bool{}
		for _, e := range edges {
			n += e.delta
			active[e.order] = e.delta > 0
			if n > capa {
				var orders []string
				for o, on := range active {
					if on {
						orders = append(orders, o)
					}
				}
				sort.Strings(orders)
				v.CapacityBreaches = append(v.CapacityBreaches, Violation{
					Detail: fmt.Sprintf("driver %s (capacity %d) certainly held %v at once", drv, capa, orders)})
				break
			}
		}
	}
	held := map[string]int{}
	for _, row := range c.st.Orders {
		if holdsDriver(row.Status) && row.Driver != "" {
			held[row.Driver]++
		}
	}
	for _, id := range sortedKeys(c.st.Drivers) {
		d := c.st.Drivers[id]
		if held[id] > d.Capacity {
			v.CapacityBreaches = append(v.CapacityBreaches, Violation{
				Detail: fmt.Sprintf("driver %s (capacity %d) holds %d orders at the end", id, d.Capacity, held[id])})
		}
		if held[id] != d.Active {
			v.ReadModel = append(v.ReadModel, Violation{
				Detail: fmt.Sprintf("driver %s has active_orders %d but holds %d orders", id, d.Active, held[id])})
		}
	}
}

// watchers checks I4 on every stream: from the first since, each seq once
// and in order, up to the order's last, and each frame the journal's event.
func (c *checker) watchers(v *Violations) {
	for _, s := range c.in.Streams {
		evs := c.st.Journal[s.Order]
		var last int64
		if len(s.Subscribes) > 0 {
			last = s.Subscribes[0]
		}
		for _, f := range s.Events {
			switch {
			case f.Seq <= last:
				v.WatcherDuplicates = append(v.WatcherDuplicates, Violation{Order: s.Order,
					Detail: fmt.Sprintf("watcher %d got seq %d again after %d", s.Watcher, f.Seq, last)})
				continue
			case f.Seq > last+1:
				v.WatcherGaps = append(v.WatcherGaps, Violation{Order: s.Order,
					Detail: fmt.Sprintf("watcher %d got seq %d after %d", s.Watcher, f.Seq, last)})
			}
			last = f.Seq
			if f.Seq > int64(len(evs)) {
				v.WatcherMismatches = append(v.WatcherMismatches, Violation{Order: s.Order,
					Detail: fmt.Sprintf("watcher %d got seq %d, the journal ends at %d", s.Watcher, f.Seq, len(evs))})
			} else if want := evs[f.Seq-1].Type; f.Event != want && f.Event != eventName(want) {
				v.WatcherMismatches = append(v.WatcherMismatches, Violation{Order: s.Order,
					Detail: fmt.Sprintf("watcher %d got %s at seq %d, the journal has %s", s.Watcher, f.Event, f.Seq, want)})
			}
		}
		if n := int64(len(evs)); last < n {
			v.WatcherGaps = append(v.WatcherGaps, Violation{Order: s.Order,
				Detail: fmt.Sprintf("watcher %d stopped at seq %d of %d", s.Watcher, last, n)})
		}
	}
}

// eventName maps a journal type to the published event name, if the
// journal stores another spelling.
func eventName(journalType string) string { return journalType }

// failovers measures, for each kill, how long the orders whose actor lived
// on the killed node could not be advanced: for each one's first
// acknowledged command after the kill, the time from the kill — or from
// when the client sent it, if later — to its acknowledgement, over the
// orders that had a command in flight at the kill or sent within 5 s
// after it. (A worker drives one order at a time: when it first asks
// about an order seconds after the kill, the seconds it did not ask are
// not an outage.)
func (c *checker) failovers() []Failover {
	var out []Failover
	for _, f := range c.in.Faults {
		if f.Kind != "kill" {
			continue
		}
		fo := Failover{Node: f.Node, At: f.At, OwnerKnown: f.Owned != "" && len(f.Members) > 0}
		var delays []time.Duration
		for _, id := range sortedKeys(c.byOrd) {
			if fo.OwnerKnown && Owner(id, f.Members) != f.Owned {
				continue
			}
			touched := false
			first, sent := maxTime, int64(0)
			for _, op := range c.byOrd[id] {
				if !op.IsWrite() {
					continue
				}
				if (op.Invoke <= f.At && op.end() >= f.At) || (op.Invoke >= f.At && op.Invoke <= f.At+int64(5*time.Second)) {
					touched = true
				}
				if op.Acked() && op.Return >= f.At && op.Return < first {
					first, sent = op.Return, max(op.Invoke, f.At)
				}
			}
			if !touched {
				continue
			}
			fo.Affected++
			if first == maxTime {
				fo.Unrecovered++
				continue
			}
			delays = append(delays, time.Duration(first-sent))
		}
		sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
		if len(delays) > 0 {
			fo.P50, fo.P90, fo.Max = quantile(delays, 0.5), quantile(delays, 0.9), delays[len(delays)-1]
			for _, d := range delays {
				fo.Delays = append(fo.Delays, d.Seconds())
			}
		}
		out = append(out, fo)
	}
	return out
}

// settle is how long after a fault completes its window lasts: the
// membership has to notice the change and the actors move.
const settle = 5 * time.Second

// windows gives the failure rate of the operations in flight during each
// rolling restart, kill, rejoin and scale-out: from the fault until
// settle after it was complete.
func (c *checker) windows() []Window {
	var out []Window
	for _, f := range c.in.Faults {
		if f.Kind == "restart" {
			continue // its steps are inside the rolling window
		}
		to := max(f.Done, f.At) + int64(settle)
		w := Window{Kind: f.Kind, From: f.At, To: to}
		for _, op := range c.in.Ops {
			end := op.Return
			if end == 0 {
				end = maxTime
			}
			if op.Invoke > to || end < f.At {
				continue // not in flight during the window
			}
			w.Ops++
			if op.Failed() {
				w.Failed++
			}
			if op.Failures > 0 {
				w.FirstTry++
			}
		}
		if w.Ops > 0 {
			w.Rate = float64(w.Failed) / float64(w.Ops)
		}
		out = append(out, w)
	}
	return out
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted)-1) + 0.5)
	return sorted[min(i, len(sorted)-1)]
}

// Owner is the member (cluster address) that owns identity among members:
// Proto.Actor's rendezvous hashing (cluster/rendezvous.go of the pinned
// version: FNV-1a over the identity then the member's address, highest
// score wins, the first member on a tie, members in address order).
func Owner(identity string, members []string) string {
	ms := append([]string(nil), members...)
	sort.Strings(ms)
	var best string
	var bestScore uint32
	for _, m := range ms {
		h := fnv.New32a()
		h.Write([]byte(identity))
		h.Write([]byte(m))
		if s := h.Sum32(); best == "" || s > bestScore {
			best, bestScore = m, s
		}
	}
	return best
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
