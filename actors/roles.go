package actors

// Roles a principal acts in.
const (
	RoleCustomer = "customer"
	RoleDriver   = "driver"
	RoleAdmin    = "admin"
	RoleSystem   = "system"
	// SystemUserID is the user id of the system's own commands (deadlines,
	// the first admin): no account has it.
	SystemUserID = "system"
)

// Rejection codes the domain returns; the HTTP layer maps each to a status
// in its error catalogue. They are part of the public API: never rename one.
const (
	CodeValidation        = "validation_failed"
	CodeNotFound          = "not_found"
	CodeForbidden         = "forbidden"
	CodeInvalidTransition = "invalid_transition"
	CodeAlreadyAssigned   = "order_already_assigned"
	CodeDriverUnavailable = "driver_unavailable"
	CodeDriverNotFound    = "driver_not_found"
	CodeVersionConflict   = "version_conflict"
	CodeEmailTaken        = "email_taken"
	CodeAlreadyExists     = "already_exists"
	// CodeProofRequired: the order needs a recorded proof of delivery
	// before it may be delivered.
	CodeProofRequired = "proof_required"
	// CodeProofLimit: the order holds as many proofs as it may.
	CodeProofLimit   = "proof_limit_reached"
	CodeUnauthorized = "unauthorized"
	// CodeOfferExpired: the driver answered an offer after its deadline.
	CodeOfferExpired = "offer_expired"
	// CodeCapacityInUse: a capacity below the orders the driver holds.
	CodeCapacityInUse = "capacity_in_use"
	// CodeLocationRequired: automatic dispatch needs pickup coordinates.
	CodeLocationRequired = "location_required"
	// CodeDispatchInProgress: a dispatch run of the order is already going.
	CodeDispatchInProgress = "dispatch_in_progress"
	// CodeEraseSelf: an admin asked to erase his own account.
	CodeEraseSelf = "cannot_erase_self"
	// CodeLastAdmin: the change would leave no active admin (the store's
	// guard, ErrLastAdmin).
	CodeLastAdmin = "last_admin"
	// CodeRetry is answered by an actor that stopped itself after a
	// storage failure or a journal conflict; the cluster client retries it
	// (it never reaches an API caller).
	CodeRetry = "retry"
)

// Rejection is a command the domain refused, with a stable code.
type Rejection struct {
	Code    string
	Message string
}

func (r *Rejection) Error() string { return r.Code + ": " + r.Message }

// Reject builds a Rejection.
func Reject(code, message string) *Rejection { return &Rejection{Code: code, Message: message} }

// RememberCommand appends id to a bounded list of recent command ids, so a
// repeated command can be recognised after it was applied.
func RememberCommand(recent []string, id string) []string {
	const keep = 32
	if id == "" {
		return recent
	}
	for _, r := range recent {
		if r == id {
			return recent
		}
	}
	recent = append(recent, id)
	if len(recent) > keep {
		recent = append([]string(nil), recent[len(recent)-keep:]...)
	}
	return recent
}

// SeenCommand reports whether id is among the recent command ids.
func SeenCommand(recent []string, id string) bool {
	if id == "" {
		return false
	}
	for _, r := range recent {
		if r == id {
			return true
		}
	}
	return false
}
