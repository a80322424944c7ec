// Package actors holds what the order, driver and user actors share: the
// storage contract they persist through, the roles and rejection codes of
// the domain, and the read-model rows their commits imply.
//
// Start with actors/order: its pure state machine (decide/apply) is the heart
// of Outrider. actors/host runs the machines as Proto.Actor actors.
//
// Ownership: each actor is the only writer of its own journal stream. A rule
// that spans two entities (an order taking a driver's capacity) is settled
// inside one Commit, whose guards the store checks in one transaction.
package actors

import (
	"context"
	"errors"
	"time"
)

// Entity kinds; also the cluster kind names.
const (
	KindOrder  = "order"
	KindDriver = "driver"
	KindUser   = "user"
	// KindZone is the in-memory index of the drivers in one geographic
	// zone (identity: a dispatch/geo zone key); it journals nothing.
	KindZone = "zone"
)

// Errors a Store returns from Commit. Anything else is a storage failure.
var (
	// ErrConflict: an event with the same (kind, entity_id, seq) is already
	// journaled — another activation wrote first (I5). The actor must stop.
	ErrConflict = errors.New("journal conflict: another writer appended first")
	// ErrDriverNotFound: a DriverLoad named a driver that does not exist.
	ErrDriverNotFound = errors.New("driver not found")
	// ErrDriverUnavailable: a DriverLoad reservation found the driver
	// offline or at capacity (I2). Nothing was written.
	ErrDriverUnavailable = errors.New("driver unavailable")
	// ErrEmailTaken: a UserRow's e-mail is already registered.
	ErrEmailTaken = errors.New("email already registered")
	// ErrCapacityInUse: a DriverRow would set a capacity below the
	// driver's active orders (I2). Nothing was written.
	ErrCapacityInUse = errors.New("capacity below the driver's active orders")
	// ErrLastAdmin: a commit taking users out of the active admins
	// (Commit.AdminsLeaving) would leave none. Nothing was written.
	ErrLastAdmin = errors.New("no active admin would remain")
)

// Event is one journal record: the protobuf-encoded domain event of one
// entity at one sequence number. (Kind, EntityID, Seq) is unique.
type Event struct {
	Kind      string
	EntityID  string
	Seq       int64
	Type      string // e.g. "order.assigned"
	Payload   []byte // protobuf encoding of the kind's event message
	CommandID string
	At        time.Time
}

// Snapshot is an entity's encoded state as of Seq.
type Snapshot struct {
	Kind     string
	EntityID string
	Seq      int64
	State    []byte
}

// Loaded is what an actor reads on activation: the newest snapshot (if any)
// and every journal event after it, in sequence order.
type Loaded struct {
	Snapshot *Snapshot
	Events   []Event
}

// Store is what the actors need from persistence. Implementations: see
// persistence/postgres; the shared conformance suite is persistence/storetest.
type Store interface {
	// Load returns the newest snapshot and the events after it.
	Load(ctx context.Context, kind, id string) (Loaded, error)
	// Version returns the sequence number of the newest journal event of
	// (kind, id), 0 for an unknown entity. It is one indexed probe: an
	// actor calls it before it refuses a command, to confirm it decided on
	// the latest committed state (DESIGN.md §8) and not on a copy another
	// activation has since moved past.
	Version(ctx context.Context, kind, id string) (int64, error)
	// JournalEvents returns the events of (kind, id) with seq > after, in
	// order: the whole journal with after 0, which an order's redaction
	// rewrites (Redaction).
	JournalEvents(ctx context.Context, kind, id string, after int64) ([]Event, error)
	// Commit writes everything in c in one transaction, or nothing. It
	// returns ErrConflict, ErrDriverNotFound, ErrDriverUnavailable,
	// ErrEmailTaken, ErrCapacityInUse or ErrLastAdmin (possibly wrapped)
	// when a guard refuses the commit.
	Commit(ctx context.Context, c Commit) error
}

// Commit is one atomic write: journal events of one or more entities, the
// read-model rows and outbox messages they imply, and optional snapshots.
type Commit struct {
	Events    []Event
	Snapshots []Snapshot
	Orders    []OrderRow
	Timeline  []TimelineEntry
	Loads     []DriverLoad
	Drivers   []DriverRow
	Users     []UserRow
	Proofs    []ProofRow
	Outbox    []OutboxMessage
	// Deadlines are armed (inserted, or replaced when the ID exists) and
	// DeadlinesDone removed (by ID; an unknown ID is not an error) in
	// the same transaction as the events that imply them.
	Deadlines     []Deadline
	DeadlinesDone []string
	// TokensRevoked moves users' token revocation times forward (never
	// back): access tokens issued before are refused.
	TokensRevoked []TokenRevocation
	// UserUpdates change users rows' fields that are set.
	UserUpdates []UserUpdate
	// Redactions rewrite what an entity journaled before, to erase
	// personal data (DELETE /v1/users/:id). The commit's own event of
	// the entity, at the next seq, is the fence: a stale activation that
	// still holds the data can never write it back (I5).
	Redactions []Redaction
	// Erasures erase users' personal data from the read side and the
	// tables beside it.
	Erasures []UserErasure
	// AdminsLeaving are users this commit may take out of the active
	// admins (switched off, given another role, erased). The store
	// refuses the commit with ErrLastAdmin when one of them is an
	// active admin and no active admin outside them would remain. It
	// decides in the commit's transaction, under a lock on every active
	// admin's row (Postgres) or in the one write transaction (SQLite),
	// so two commits racing to remove the last two admins, from any
	// nodes, cannot both pass: the later one sees the earlier one's
	// change.
	AdminsLeaving []string
	// ResetsSpent spends the users' password reset tokens not yet spent
	// (a password change, a switch-off, a new role): a token mailed
	// before such a change no longer sets a password.
	ResetsSpent []ResetSpend
}

// Redaction rewrites entity (Kind, EntityID)'s past.
type Redaction struct {
	Kind     string
	EntityID string
	// Journal replaces the payloads of these journaled events (by Kind,
	// EntityID and Seq); their other columns stay.
	Journal []Event
	// PurgeBefore deletes the entity's journal events with seq below it
	// (0: none). The user kind purges what came before its erasure: no
	// one replays a user's journal, and a snapshot in the same commit
	// holds the state.
	PurgeBefore int64
	// Timeline replaces the metadata of these timeline lines (by OrderID
	// and Seq); their other columns stay.
	Timeline []TimelineEntry
	// Outbox replaces the payloads of these messages (by ID) where they
	// are still waiting to be published.
	Outbox []OutboxMessage
	// Order, for an order: every notification about it (whose message
	// may quote its addresses) is deleted.
	Order bool
}

// UserErasure erases user ID's personal data outside his journal: his
// users row keeps only the id, role and times (the e-mail becomes
// "erased:" + ID, so the address is free again, and erased_at is At),
// and his refresh tokens, password reset tokens, notifications, location
// history and last position, the failed-login counts of the e-mail he had and every
// stored Idempotency-Key answer that mentions him are deleted.
type UserErasure struct {
	ID string
	At time.Time
}

// ResetSpend spends, at At, every password reset token of UserID not
// yet spent.
type ResetSpend struct {
	UserID string
	At     time.Time
}

// UserUpdate sets the non-nil fields of user ID's row.
type UserUpdate struct {
	ID                              string
	Name, Phone, PasswordHash, Role *string
	Active                          *bool
}

// TokenRevocation: the access tokens of UserID issued before Before are
// revoked.
type TokenRevocation struct {
	UserID string
	Before time.Time
}

// Deadline is a command due at a time (an offer's expiry, the next round
// of a dispatch, a scheduled order's start): a row with a due time, never
// an in-memory timer, which would die with the node or move with the
// actor (DESIGN.md §2). A scheduler on any node claims it once it is due
// and sends Command to the entity; the entity decides whether it still
// applies, so a deadline fired twice or late changes nothing twice.
type Deadline struct {
	// ID is unique; arming an existing ID replaces its due time and
	// command and ends any claim on it.
	ID       string
	Kind     string // the entity kind the command goes to (KindOrder)
	EntityID string
	DueAt    time.Time
	// Command is the protobuf encoding of the kind's command message.
	Command []byte
	// Kick (not stored) asks the node that commits the row to fire the
	// command at once itself; DueAt is then a safety net, later.
	Kick bool
	// Trace (not stored) is the committing span (a W3C traceparent), so
	// a kicked round joins the commit's trace; "" when not traced.
	Trace string
}

// ProofRow is a proof of delivery recorded by order event Seq: an object
// in blob storage. (OrderID, Key) is unique; the thumbnail is added later
// by the worker.
type ProofRow struct {
	OrderID     string
	Seq         int64
	Key         string
	ContentType string
	Size        int64
	ByUserID    string
	At          time.Time
}

// OrderRow is the order read model: the order's full current state.
// The store upserts it, never moving Version backwards.
type OrderRow struct {
	ID             string
	CustomerID     string
	DriverID       string // "" when none
	Pickup         Place
	Dropoff        Place
	DeliveryOption string
	ScheduledFor   *time.Time
	PaymentStatus  string
	Status         string
	Notes          string
	Version        int64
	// OfferExpiresAt: the open offer's deadline while Status is assigned.
	OfferExpiresAt *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// TimelineEntry is one line of an order's timeline (one per order event).
type TimelineEntry struct {
	OrderID  string
	Seq      int64
	Status   string
	ByUserID string
	ByRole   string
	Metadata map[string]string
	At       time.Time
}

// DriverLoad changes a driver's count of active orders. Delta +1 is a
// reservation, guarded in the same transaction: the driver must exist, be
// available and hold fewer than capacity active orders (I2). Delta -1
// releases one and never takes the count below zero.
type DriverLoad struct {
	DriverID string
	Delta    int
}

// DriverRow is the driver read model as the driver actor owns it. The
// active-order count is not here: orders own it through DriverLoad.
type DriverRow struct {
	ID        string
	Available bool
	Capacity  int
	Version   int64
	UpdatedAt time.Time
}

// UserRow creates a user and their credentials. Email is unique,
// compared case-insensitively.
type UserRow struct {
	ID           string
	Email        string
	Name         string
	Phone        string
	Role         string
	PasswordHash string
	CreatedAt    time.Time
	// Inactive: an admin switched the account off (a new user is active).
	Inactive bool
}

// OutboxMessage is a message to publish after commit (relayed to NATS by
// the realtime layer). ID is stable per event, for de-duplication.
type OutboxMessage struct {
	ID      string
	Subject string
	Payload []byte // JSON
	At      time.Time
	// Trace is the committing span as a W3C traceparent (internal/tracing),
	// "" when the command was not traced; the relay publishes it as the
	// message's traceparent header.
	Trace string
}
