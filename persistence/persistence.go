// Package persistence defines the storage contract of Outrider: the
// actors' journal (actors.Store) plus the read side the HTTP API queries
// and the small tables auth and idempotency need. Backends implement
// Backend; persistence/postgres is the production one, and every backend
// passes the conformance suite in persistence/storetest.
package persistence

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/outrider/outrider/actors"
)

// Errors of the read side.
var (
	ErrNotFound = errors.New("not found")
	// ErrTokenReused: a refresh token that was already spent was presented
	// again; the store has revoked its whole family.
	ErrTokenReused = errors.New("refresh token reused")
	// ErrTokenInvalid: unknown, expired or revoked refresh token.
	ErrTokenInvalid = errors.New("refresh token invalid")
	// ErrResetTokenInvalid: a password reset token that is unknown,
	// expired or already spent.
	ErrResetTokenInvalid = errors.New("password reset token invalid")
	// ErrIdempotencyMismatch: the key was used with another request body.
	ErrIdempotencyMismatch = errors.New("idempotency key reused with another request")
	// ErrIdempotencyInProgress: the first request with this key has not
	// finished yet.
	ErrIdempotencyInProgress = errors.New("idempotency key in progress")
)

// Backend is everything a node needs from storage.
type Backend interface {
	actors.Store
	Queries
	Auth
	Idempotency
	Outbox
	Locations
	Proofs
	Notifications
	Webhooks
	Deadlines
	Retention
	Erasure
	PersonalData
	// Migrate brings the schema up to date; safe to run concurrently from
	// several nodes.
	Migrate(ctx context.Context) error
	// Ping checks the backend answers (readiness).
	Ping(ctx context.Context) error
	Close()
}

// Deadlines is the scheduler's side of the deadline rows the actors arm
// in their commits (actors.Deadline). Claims are leases: a node that dies
// holding one lets it run out, and another node claims the deadline
// again, so every due deadline is fired at least once and the entity it
// names settles what a repeat means.
type Deadlines interface {
	// ClaimDue leases to owner, until leaseUntil, up to limit deadlines
	// due at or before now that nobody holds a live lease on (a lease
	// that ended before now is free), earliest due first, and returns
	// them. Concurrent callers never get the same deadline while its
	// lease lives.
	ClaimDue(ctx context.Context, owner string, now, leaseUntil time.Time, limit int) ([]actors.Deadline, error)
	// DeleteDeadline removes deadline id if owner still holds its lease
	// (a deadline re-armed since, or claimed by another owner after the
	// lease ran out, stays). Deleting a missing deadline is not an error.
	// "Holds" is not judged by a clock: an owner whose lease ran out
	// still removes the deadline until someone else claims it, which
	// spares a second firing of a command it did fire.
	DeleteDeadline(ctx context.Context, id, owner string) error
	// PostponeDeadline makes deadline id due at due instead, if owner
	// still holds its lease, and ends the lease, so any scheduler claims
	// it again once it is due. Like DeleteDeadline, "holds" is not judged
	// by a clock, and a deadline re-armed since (its lease cleared),
	// claimed by another owner, or missing is left as it is without an
	// error.
	PostponeDeadline(ctx context.Context, id, owner string, due time.Time) error
	// NextDeadline is the earliest due time of any deadline, leased or
	// not; ok is false when there is none. A scheduler sleeps until then.
	NextDeadline(ctx context.Context) (due time.Time, ok bool, err error)
}

// OrderFilter selects orders. Results are newest first (by id, which is
// time-ordered); After is the last id of the previous page.
type OrderFilter struct {
	Statuses   []string
	CustomerID string
	DriverID   string
	// UserID matches orders where the user is the customer or the driver.
	UserID string
	Limit  int
	After  string
}

// UserFilter selects users, by id; After pages.
type UserFilter struct {
	Role string // "" for every role
	// Query matches a substring of the name or the e-mail, ignoring case.
	Query string
	Limit int
	After string
}

// LikePattern is the SQL LIKE pattern of a substring search for q: its
// own %, _ and \ escaped with \.
func LikePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(q) + "%"
}

// DriverFilter selects drivers, oldest first by id; After pages.
type DriverFilter struct {
	Status string // offline | available | busy; "" for all
	Limit  int
	After  string
}

// Driver is the driver read model joined with its user.
type Driver struct {
	ID           string
	Name         string
	Email        string
	Phone        string
	Available    bool
	Capacity     int
	ActiveOrders int
	Status       string
	LastLocation *Location
	UpdatedAt    time.Time
}

// Location is a driver's last known position.
type Location struct {
	Lat, Lng float64
	At       time.Time
}

// User is a user with credentials.
type User struct {
	actors.UserRow
	// Erased: the account's personal data was erased (DELETE
	// /v1/users/:id); the row keeps the id, role and times for the
	// orders that name it.
	Erased bool
}

// DayCount is one day of the orders-by-day metric.
type DayCount struct {
	Day       string // YYYY-MM-DD in the requested zone
	Created   int
	Delivered int
	Cancelled int
	Failed    int
}

// Queries is the read side the API serves from.
type Queries interface {
	GetOrder(ctx context.Context, id string) (actors.OrderRow, error)
	// ListOrders returns at most f.Limit orders and whether more follow.
	ListOrders(ctx context.Context, f OrderFilter) ([]actors.OrderRow, bool, error)
	Timeline(ctx context.Context, orderID string) ([]actors.TimelineEntry, error)
	GetDriver(ctx context.Context, id string) (Driver, error)
	ListDrivers(ctx context.Context, f DriverFilter) ([]Driver, bool, error)
	GetUser(ctx context.Context, id string) (User, error)
	// ListUsers returns at most f.Limit users, by id, and whether more
	// follow. Erased accounts are not listed.
	ListUsers(ctx context.Context, f UserFilter) ([]User, bool, error)
	// GetUserByEmail matches the e-mail case-insensitively.
	GetUserByEmail(ctx context.Context, email string) (User, error)
	// JournalEvents returns an entity's journal events with seq > after,
	// in order (realtime replay, I4).
	JournalEvents(ctx context.Context, kind, id string, after int64) ([]actors.Event, error)
	// OrdersByDay counts, per calendar day in zone tz (an IANA name), the
	// orders created and those that reached delivered, cancelled and
	// failed, for days from..to inclusive (YYYY-MM-DD in tz). Days with no
	// activity are included with zeros.
	OrdersByDay(ctx context.Context, from, to string, tz string) ([]DayCount, error)
	// DeliveryTimes measures, per calendar day in zone tz (an IANA name),
	// the orders delivered that day and how long they took from their
	// first timeline line to the line that moved them to delivered, for
	// days from..to inclusive (YYYY-MM-DD in tz), with a histogram over
	// the whole range. Days with no delivery are included. Arguments are
	// validated as ParseDayRange does.
	DeliveryTimes(ctx context.Context, from, to string, tz string) (DeliveryTimes, error)
	// AdminIDs returns the ids of the users with role admin, ordered by
	// id, at most MaxAdminIDs of them: switched off or not, but not
	// erased.
	AdminIDs(ctx context.Context) ([]string, error)
	// DriverSlots reads the availability, capacity and active orders of
	// each of ids that is a driver, in one query (the dispatch engine
	// checks a round's candidates with it).
	DriverSlots(ctx context.Context, ids []string) (map[string]DriverSlot, error)
	// TokensRevokedSince returns every user whose access tokens were
	// revoked after since, with the time before which they are refused.
	TokensRevokedSince(ctx context.Context, since time.Time) (map[string]time.Time, error)
}

// DriverSlot is what dispatch needs to know of a driver's capacity.
type DriverSlot struct {
	Available    bool
	Capacity     int
	ActiveOrders int
}

// MaxAdminIDs is the most ids AdminIDs returns.
const MaxAdminIDs = 1000

// RefreshToken is a stored refresh token; only its hash is kept.
type RefreshToken struct {
	Hash      string
	UserID    string
	FamilyID  string
	ExpiresAt time.Time
	CreatedAt time.Time
}

// Retention deletes rows no longer needed, oldest first, at most limit
// per call; each returns how many went. The worker calls them in batches
// (worker/retention.go).
type Retention interface {
	// TrimLocationHistory deletes fixes taken before before.
	TrimLocationHistory(ctx context.Context, before time.Time, limit int) (int64, error)
	// TrimReadNotifications deletes notifications read before before
	// (unread ones stay, however old).
	TrimReadNotifications(ctx context.Context, before time.Time, limit int) (int64, error)
	// TrimRefreshTokens deletes refresh tokens that expired, or were
	// revoked, before before (spent ones that have not expired stay: a
	// reuse of one revokes its family).
	TrimRefreshTokens(ctx context.Context, before time.Time, limit int) (int64, error)
	// TrimIdempotencyKeys deletes Idempotency-Key records created before
	// before.
	TrimIdempotencyKeys(ctx context.Context, before time.Time, limit int) (int64, error)
	// TrimPasswordResets deletes password reset tokens that expired, or
	// were spent, before before.
	TrimPasswordResets(ctx context.Context, before time.Time, limit int) (int64, error)
}

// PasswordReset is a password reset token; only its hash is kept.
type PasswordReset struct {
	Hash      string // hex SHA-256 of the token the e-mail carried
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// PasswordResets stores the single-use tokens of password reset by e-mail.
type PasswordResets interface {
	// CreatePasswordReset stores r unless a token was created for
	// r.UserID after since (one e-mail a while per account); created
	// reports whether it was.
	CreatePasswordReset(ctx context.Context, r PasswordReset, since time.Time) (created bool, err error)
	// PasswordResetUser returns the user of the token with hash if it is
	// neither spent nor expired at now, ErrResetTokenInvalid otherwise.
	// It spends nothing.
	PasswordResetUser(ctx context.Context, hash string, now time.Time) (string, error)
	// SpendPasswordReset spends, atomically, the token with hash and
	// every other live token of its user, and returns the user; a token
	// spent, expired or unknown is ErrResetTokenInvalid. Of concurrent
	// spends of one token exactly one succeeds.
	SpendPasswordReset(ctx context.Context, hash string, now time.Time) (string, error)
}

// Erasure is what is left of an account's erasure (DELETE
// /v1/users/:id) once his user actor erased him in its commit
// (actors.UserErasure): rows that mention him but are no actor's.
type Erasure interface {
	// ForgetUser deletes every stored Idempotency-Key answer whose scope
	// is user id or whose body mentions his id (answers about him given
	// to others, e.g. an admin's creation of his account: a scan of the
	// keys' last 24 hours), and any location fix of his recorded since
	// his erasure (one in flight then). It returns how many rows went;
	// repeating it is harmless.
	ForgetUser(ctx context.Context, id string) (int64, error)
}

// LoginFailures counts failed logins per key across nodes (the API's
// throttle keys them by account, and by account and address).
type LoginFailures interface {
	// LoginFailuresOf returns the failures of each key that has any since
	// after (older ones are forgotten), and when the last one was.
	LoginFailuresOf(ctx context.Context, keys []string, after time.Time) (map[string]LoginFailureCount, error)
	// AddLoginFailure counts one failure of each key at now; a key whose
	// last failure is at or before after starts again from one.
	AddLoginFailure(ctx context.Context, keys []string, now, after time.Time) error
	// ClearLoginFailures forgets keys (a successful login).
	ClearLoginFailures(ctx context.Context, keys []string) error
	// TrimLoginFailures deletes the keys whose last failure is at or before
	// before, at most limit of them, and returns how many went.
	TrimLoginFailures(ctx context.Context, before time.Time, limit int) (int64, error)
}

// LoginFailureCount is a key's failed logins.
type LoginFailureCount struct {
	Failures int
	Last     time.Time
}

// Auth stores refresh-token families.
type Auth interface {
	LoginFailures
	PasswordResets
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// RotateRefreshToken spends the token with hash old and stores next in
	// the same family, atomically. A spent token presented again revokes
	// the family and returns ErrTokenReused; an unknown, expired or
	// revoked one returns ErrTokenInvalid. It returns the spent token, also
	// with ErrTokenReused (whose user to revoke).
	RotateRefreshToken(ctx context.Context, old string, next RefreshToken, now time.Time) (RefreshToken, error)
	// RevokeUserRefreshTokens revokes every live refresh token of userID
	// (a password change) at now.
	RevokeUserRefreshTokens(ctx context.Context, userID string, now time.Time) error
	// RevokeRefreshFamily revokes the family of the token with hash, if it
	// belongs to userID. Unknown tokens are not an error.
	RevokeRefreshFamily(ctx context.Context, hash, userID string) error
}

// IdempotentResponse is a stored first answer to a keyed request.
type IdempotentResponse struct {
	Status int
	Header map[string]string
	Body   []byte
}

// Idempotency stores Idempotency-Key outcomes, scoped per caller.
type Idempotency interface {
	// BeginIdempotent claims (scope, key) for a request whose body hashes
	// to requestHash. It returns (nil, nil) when the claim is new, the
	// stored response when the same request already completed, or
	// ErrIdempotencyMismatch / ErrIdempotencyInProgress. A claim left in
	// progress for over a minute (its node died) is taken over by the same
	// request; keys are forgotten after 24 hours. owner names the node
	// making the claim (its cluster member id).
	BeginIdempotent(ctx context.Context, scope, key, requestHash, owner string, now time.Time) (*IdempotentResponse, error)
	// CompleteIdempotent stores the response of a claimed key.
	CompleteIdempotent(ctx context.Context, scope, key string, resp IdempotentResponse) error
	// ReleaseIdempotent drops a claim whose request failed without effect,
	// so the client may retry with the same key.
	ReleaseIdempotent(ctx context.Context, scope, key string) error
	// ReleaseIdempotencyClaims drops every claim still in progress that
	// owner made: the node left the cluster, and its requests will never
	// complete. Completed keys stay. It returns how many were released.
	ReleaseIdempotencyClaims(ctx context.Context, owner string) (int64, error)
}

// Outbox is what the outbox relay needs: committed messages not yet
// published, in commit order, and a way to mark them published (which
// removes them: the journal is the history). Publishing is at least once;
// the bus de-duplicates by OutboxMessage.ID.
type Outbox interface {
	UnpublishedOutbox(ctx context.Context, limit int) ([]actors.OutboxMessage, error)
	MarkOutboxPublished(ctx context.Context, ids []string, at time.Time) error
}

// LocationFix is one recorded position of a driver.
type LocationFix struct {
	DriverID                 string
	Lat, Lng                 float64
	Heading, Speed, Accuracy *float64
	At                       time.Time
}

// NewestFixes is each driver's newest fix among fixes, in no set order.
func NewestFixes(fixes []LocationFix) []LocationFix {
	at := make(map[string]int, len(fixes))
	var out []LocationFix
	for _, f := range fixes {
		i, ok := at[f.DriverID]
		switch {
		case !ok:
			at[f.DriverID] = len(out)
			out = append(out, f)
		case f.At.After(out[i].At):
			out[i] = f
		}
	}
	return out
}

// Locations is the driver location history, written in batches.
type Locations interface {
	// RecordLocations appends history to the location history and moves
	// the last known location of each driver in last to his newest fix
	// there (never backwards in time). The caller chooses last: a driver
	// sending a fix a second need not move his read-model row each time.
	RecordLocations(ctx context.Context, history, last []LocationFix) error
	// Trail returns driverID's fixes with from <= at < to, oldest first,
	// at most limit of them.
	Trail(ctx context.Context, driverID string, from, to time.Time, limit int) ([]LocationFix, error)
}

// Proof is a recorded proof of delivery and its thumbnail, once made.
type Proof struct {
	actors.ProofRow
	ThumbnailKey string // "" until the worker made it
}

// Proofs reads the proofs that orders' commits recorded.
type Proofs interface {
	// ListProofs returns an order's proofs, oldest first.
	ListProofs(ctx context.Context, orderID string) ([]Proof, error)
	// SetProofThumbnail records the thumbnail of a proof; ErrNotFound
	// when the order has no proof with that key. Setting it again is
	// harmless.
	SetProofThumbnail(ctx context.Context, orderID, key, thumbnailKey string) error
}
