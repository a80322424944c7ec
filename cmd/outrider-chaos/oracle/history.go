// Package oracle judges a chaos run: it reads the recorded client history
// (every command and read the harness sent, with its invoke and return
// times) together with what the store committed (the order journal, the
// orders read model, the drivers table) and what the watchers received,
// and reports every violation of DESIGN.md §2 and §8 it can prove.
//
// Start with Check (checks.go). The per-order specification the checks
// share is Decide (spec.go); the linearizability check runs it as a
// porcupine model (linearize.go). The oracle never trusts the system under
// test's own state machine (actors/order): it has its own copy of the
// rules, so a bug there shows up as a disagreement instead of agreeing
// with itself.
//
// Soundness: a violation is reported only when it holds for every
// ordering the recorded times allow. Commit times are not recorded by the
// store, so each journal event gets an interval [lower, upper] in which it
// must have committed (from the command's invoke and acknowledged return,
// the event's own timestamp, reads that saw or did not see it, and the
// order of seqs); a refusal is "wrong" only if the command was valid in
// every committed state that can have been current during the refusal.
package oracle

import "time"

// Kind is what an operation does.
type Kind string

// Operation kinds.
const (
	Create  Kind = "create"
	Assign  Kind = "assign"
	Accept  Kind = "accept"
	Decline Kind = "decline"
	Status  Kind = "status" // PUT /status {status: To}
	Read    Kind = "read"   // GET /v1/orders/:id
)

// Op is one logical client operation: the first attempt's invoke time to
// the final answer's return time, across every retry (writes repeat the
// same Idempotency-Key, so the retries are one command).
type Op struct {
	ID     int    `json:"id"`
	Client int    `json:"client"` // the worker that sent it
	Kind   Kind   `json:"kind"`
	Order  string `json:"order"`
	By     string `json:"by"`   // the caller's user id
	Role   string `json:"role"` // admin, driver, customer
	// Customer is the order's customer (create only).
	Customer string `json:"customer,omitempty"`
	// Driver is the driver_id of an assign.
	Driver string `json:"driver,omitempty"`
	// To is the target status of a status change.
	To string `json:"to,omitempty"`
	// CommandID is the id the node derives from the Idempotency-Key; the
	// journal stores it with the event the command produced.
	CommandID string `json:"command_id,omitempty"`
	// Invoke and Return are wall-clock Unix nanoseconds on this machine.
	// Return is 0 for an operation that never got a final answer.
	Invoke   int64 `json:"invoke"`
	Return   int64 `json:"return"`
	Attempts int   `json:"attempts"`
	// Node is the index of the node that gave the final answer (-1: none).
	Node int `json:"node"`
	// HTTP is the final status (0: no answer at all), Code the problem
	// code of a non-2xx answer.
	HTTP int    `json:"http"`
	Code string `json:"code,omitempty"`
	// Result is the order a 2xx answer returned.
	Result *View `json:"result,omitempty"`
	// Err is the last transport error or retryable answer.
	Err string `json:"err,omitempty"`
	// Failures counts the attempts that failed retryably (transport error,
	// 5xx, 429, idempotency_in_progress) before the final answer.
	Failures int `json:"failures,omitempty"`
}

// View is the part of an order the oracle compares.
type View struct {
	Status  string `json:"status"`
	Driver  string `json:"driver,omitempty"`
	Version int64  `json:"version"`
}

// IsWrite reports whether the operation is a command (not a read).
func (o *Op) IsWrite() bool { return o.Kind != Read }

// Acked reports a 2xx answer.
func (o *Op) Acked() bool { return o.HTTP/100 == 2 }

// refusalCodes are the answers that say "this command is not valid now":
// definite refusals the oracle judges.
var refusalCodes = map[string]bool{
	"forbidden": true, "invalid_transition": true, "order_already_assigned": true,
	"driver_unavailable": true, "not_found": true, "already_exists": true,
}

// Refused reports a definite refusal (403, 404 or a 409 with a domain
// code). A 409 idempotency_in_progress is no refusal: it says "ask again".
func (o *Op) Refused() bool {
	return (o.HTTP == 403 || o.HTTP == 404 || o.HTTP == 409) && refusalCodes[o.Code]
}

// Definite reports whether the operation's effect is known from its
// answer: acknowledged or refused. Anything else (no answer, 5xx, a
// retryable 409 when the client gave up) may or may not have committed.
func (o *Op) Definite() bool { return o.Acked() || o.Refused() }

// Failed reports an operation that ended without a definite answer, or
// with an answer no valid command should get (4xx other than a refusal).
func (o *Op) Failed() bool { return !o.Definite() }

// end is the latest moment the operation can have taken effect: its
// return, or "never" for one without a definite answer (a request the
// client gave up on may still be running on some node).
func (o *Op) end() int64 {
	if o.Return == 0 || !o.Definite() {
		return maxTime
	}
	return o.Return
}

const maxTime = int64(1<<63 - 1)

// Stream is what one watcher received on one order channel, across its
// reconnections.
type Stream struct {
	Watcher int    `json:"watcher"`
	Order   string `json:"order"`
	// Events are the (seq, event type) frames in arrival order.
	Events []Frame `json:"events"`
	// Subscribes are the since values sent, in order (the first is 0).
	Subscribes []int64 `json:"subscribes"`
}

// Frame is one event frame of a stream.
type Frame struct {
	Seq   int64  `json:"seq"`
	Event string `json:"event"`
}

// Fault is one scheduled fault as it happened.
type Fault struct {
	Kind string `json:"kind"` // kill, rejoin, add, restart (one step of a rolling restart), rolling (the whole)
	Node string `json:"node,omitempty"`
	// At and Done are wall-clock Unix nanoseconds: the fault's start and
	// the moment it was complete (the node ready again, for rejoin, add
	// and restart).
	At   int64 `json:"at"`
	Done int64 `json:"done"`
	// Owned is, for a kill, the cluster address of the killed node; Members
	// the cluster addresses of every member just before the fault. With
	// them the oracle knows which actors lived on the killed node.
	Owned   string   `json:"owned,omitempty"`
	Members []string `json:"members,omitempty"`
}

// Duration converts nanoseconds to a time.Duration (for printing).
func Duration(ns int64) time.Duration { return time.Duration(ns) }
