// Package problem is Outrider's one catalogue of error codes: every code a
// client can meet, in a problem+json answer of the v1 API or the local
// blob handler or in a WebSocket error frame, with its HTTP status and
// title. It also renders problem+json (RFC 9457), so the body of a refusal
// is written in one place.
//
// A Code is a typed constant, not a string: errorf(problem.Unavailble, …)
// and errorf("unavailble", …) do not compile (an untyped string constant
// does not convert to a Code). Clients branch on the codes' names: never
// rename one.
//
// The package is a leaf (it imports only the standard library), so the
// domain-free transports and persistence/blob/local can all use it. The
// domain's rejection codes (actors.Code*) stay strings in package actors;
// transport/httpapi maps each to a Code and a test there keeps that map total.
package problem

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Code is a stable error code. The zero Code is not a code.
type Code uint8

// Codes of the v1 JSON API: its problem+json answers carry them, and they
// are the OpenAPI document's Problem.code enum.
const (
	MalformedJSON Code = iota + 1
	UnknownField
	ValidationFailed
	BodyTooLarge
	UnsupportedMediaType
	Unauthorized
	TokenExpired
	Forbidden
	NotFound
	MethodNotAllowed
	UpgradeRequired
	InvalidTransition
	OrderAlreadyAssigned
	DriverUnavailable
	DriverNotFound
	VersionConflict
	EmailTaken
	AlreadyExists
	ProofRequired
	ProofLimitReached
	// OfferExpired: a driver answered an offer after its deadline.
	OfferExpired
	// CapacityInUse: a driver's capacity cannot go below the orders he holds.
	CapacityInUse
	// LocationRequired: automatic dispatch needs the pickup's coordinates.
	LocationRequired
	// DispatchInProgress: the order is being dispatched already.
	DispatchInProgress
	// WeakPassword: a new password is too easy to guess.
	WeakPassword
	// CannotEraseSelf: an admin asked to erase his own account.
	CannotEraseSelf
	// LastAdmin: the change would leave no active admin.
	LastAdmin
	// UserHasActiveOrders: the account's orders in progress (a
	// customer's open orders, a driver's accepted ones or offers) stand
	// in the way of its erasure or role change.
	UserHasActiveOrders
	// ResetTokenInvalid: a password reset token that is unknown, expired
	// or already used.
	ResetTokenInvalid
	UploadNotFound
	UploadInvalid
	IdempotencyKeyReused
	IdempotencyInProgress
	RateLimited
	Unavailable
	Internal

	// LengthRequired: an upload to the local blob handler without a
	// Content-Length. Only the blob handler answers with it.
	LengthRequired

	// Codes only WebSocket error frames carry; they have no HTTP status.

	// UnknownType: a frame whose type the gateway does not know.
	UnknownType
	// TooManySubscriptions: the session watches as many channels as it may.
	TooManySubscriptions

	numCodes
)

// Entry is a code as the catalogue lists it.
type Entry struct {
	Code   Code
	Name   string // on the wire: the "code" of problem+json and of an error frame
	Status int    // the HTTP status it is answered with; 0 for frame-only codes
	Title  string // problem+json "title"; empty for frame-only codes
}

// catalogue is indexed by Code.
var catalogue = [numCodes]Entry{
	MalformedJSON:         {MalformedJSON, "malformed_json", http.StatusBadRequest, "Malformed JSON"},
	UnknownField:          {UnknownField, "unknown_field", http.StatusBadRequest, "Unknown field"},
	ValidationFailed:      {ValidationFailed, "validation_failed", http.StatusUnprocessableEntity, "Validation failed"},
	BodyTooLarge:          {BodyTooLarge, "body_too_large", http.StatusRequestEntityTooLarge, "Request body too large"},
	UnsupportedMediaType:  {UnsupportedMediaType, "unsupported_media_type", http.StatusUnsupportedMediaType, "Unsupported media type"},
	Unauthorized:          {Unauthorized, "unauthorized", http.StatusUnauthorized, "Unauthorized"},
	TokenExpired:          {TokenExpired, "token_expired", http.StatusUnauthorized, "Access token expired"},
	Forbidden:             {Forbidden, "forbidden", http.StatusForbidden, "Forbidden"},
	NotFound:              {NotFound, "not_found", http.StatusNotFound, "Not found"},
	MethodNotAllowed:      {MethodNotAllowed, "method_not_allowed", http.StatusMethodNotAllowed, "Method not allowed"},
	UpgradeRequired:       {UpgradeRequired, "upgrade_required", http.StatusUpgradeRequired, "Upgrade required"},
	InvalidTransition:     {InvalidTransition, "invalid_transition", http.StatusConflict, "Invalid status transition"},
	OrderAlreadyAssigned:  {OrderAlreadyAssigned, "order_already_assigned", http.StatusConflict, "Order already assigned"},
	DriverUnavailable:     {DriverUnavailable, "driver_unavailable", http.StatusConflict, "Driver unavailable"},
	DriverNotFound:        {DriverNotFound, "driver_not_found", http.StatusUnprocessableEntity, "Driver not found"},
	VersionConflict:       {VersionConflict, "version_conflict", http.StatusConflict, "Version conflict"},
	EmailTaken:            {EmailTaken, "email_taken", http.StatusConflict, "E-mail already registered"},
	AlreadyExists:         {AlreadyExists, "already_exists", http.StatusConflict, "Already exists"},
	ProofRequired:         {ProofRequired, "proof_required", http.StatusConflict, "Proof of delivery required"},
	ProofLimitReached:     {ProofLimitReached, "proof_limit_reached", http.StatusConflict, "Too many proofs"},
	OfferExpired:          {OfferExpired, "offer_expired", http.StatusConflict, "Offer expired"},
	CapacityInUse:         {CapacityInUse, "capacity_in_use", http.StatusConflict, "Capacity in use"},
	LocationRequired:      {LocationRequired, "location_required", http.StatusUnprocessableEntity, "Pickup location required"},
	DispatchInProgress:    {DispatchInProgress, "dispatch_in_progress", http.StatusConflict, "Dispatch in progress"},
	WeakPassword:          {WeakPassword, "weak_password", http.StatusUnprocessableEntity, "Password too weak"},
	CannotEraseSelf:       {CannotEraseSelf, "cannot_erase_self", http.StatusUnprocessableEntity, "Cannot erase your own account"},
	LastAdmin:             {LastAdmin, "last_admin", http.StatusConflict, "Last admin"},
	UserHasActiveOrders:   {UserHasActiveOrders, "user_has_active_orders", http.StatusConflict, "User has orders in progress"},
	ResetTokenInvalid:     {ResetTokenInvalid, "reset_token_invalid", http.StatusUnprocessableEntity, "Reset token invalid"},
	UploadNotFound:        {UploadNotFound, "upload_not_found", http.StatusUnprocessableEntity, "Upload not found"},
	UploadInvalid:         {UploadInvalid, "upload_invalid", http.StatusUnprocessableEntity, "Upload does not match"},
	IdempotencyKeyReused:  {IdempotencyKeyReused, "idempotency_key_reused", http.StatusUnprocessableEntity, "Idempotency key reused with another request"},
	IdempotencyInProgress: {IdempotencyInProgress, "idempotency_in_progress", http.StatusConflict, "Request with this idempotency key in progress"},
	RateLimited:           {RateLimited, "rate_limited", http.StatusTooManyRequests, "Too many requests"},
	Unavailable:           {Unavailable, "unavailable", http.StatusServiceUnavailable, "Service unavailable"},
	Internal:              {Internal, "internal", http.StatusInternalServerError, "Internal error"},

	LengthRequired: {LengthRequired, "length_required", http.StatusLengthRequired, "Content-Length required"},

	UnknownType:          {UnknownType, "unknown_type", 0, ""},
	TooManySubscriptions: {TooManySubscriptions, "too_many_subscriptions", 0, ""},
}

// Entries is the whole catalogue, in Code order.
func Entries() []Entry { return append([]Entry(nil), catalogue[1:]...) }

// Valid reports whether c is a code of the catalogue.
func (c Code) Valid() bool { return c > 0 && c < numCodes }

// Entry is c's entry; the zero Entry if c is not a code.
func (c Code) Entry() Entry {
	if !c.Valid() {
		return Entry{}
	}
	return catalogue[c]
}

// String is c's name on the wire.
func (c Code) String() string {
	if !c.Valid() {
		return "problem.Code(" + strconv.Itoa(int(c)) + ")"
	}
	return catalogue[c].Name
}

// Status is the HTTP status c is answered with; 0 for frame-only codes.
func (c Code) Status() int { return c.Entry().Status }

// Title is c's problem+json title.
func (c Code) Title() string { return c.Entry().Title }

// MarshalText encodes c as its name, so a Code field of a JSON frame
// reads like the string it replaces.
func (c Code) MarshalText() ([]byte, error) {
	if !c.Valid() {
		return nil, fmt.Errorf("problem: %d is not a code", uint8(c))
	}
	return []byte(catalogue[c].Name), nil
}

var byName = func() map[string]Code {
	m := make(map[string]Code, numCodes)
	for _, e := range catalogue[1:] {
		m[e.Name] = e.Code
	}
	return m
}()

// Lookup is the code named name, for names that arrive as strings (the
// domain's rejection codes).
func Lookup(name string) (Code, bool) {
	c, ok := byName[name]
	return c, ok
}

// FieldError names one invalid field of a request body or query.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Details is one refusal, as an RFC 9457 problem.
type Details struct {
	Code       Code
	Detail     string
	Instance   string       // the request's path
	Errors     []FieldError // the fields at fault, if any
	RetryAfter int          // seconds; sent as Retry-After when positive
	// RequestID is the request's id (request_id). Empty: the answer's
	// RequestIDHeader, if set, so every refusal of a request that went
	// through the API's middleware names it.
	RequestID string
}

// RequestIDHeader is the header that carries a request's id; problem+json
// bodies repeat it as request_id.
const RequestIDHeader = "X-Request-Id"

// body is the problem+json document; its field order is the wire's.
type body struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Code     string       `json:"code"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
	// RequestID names the request in the node's access log.
	RequestID string `json:"request_id,omitempty"`
}

// httpCode is c, or Internal if c has no HTTP status (a frame-only code
// or no code at all, which a caller should never pass).
func httpCode(c Code) Code {
	if c.Status() == 0 {
		return Internal
	}
	return c
}

// WriteHeader answers with the status of d.Code and problem+json's
// headers (Content-Type, Cache-Control: no-store, Retry-After), and no
// body: for a HEAD request.
func WriteHeader(w http.ResponseWriter, d Details) {
	h := w.Header()
	if d.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(d.RetryAfter))
	}
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(httpCode(d.Code).Status())
}

// Write answers with d as problem+json: WriteHeader, then the body. A
// code without an HTTP status is answered as Internal.
func Write(w http.ResponseWriter, d Details) {
	WriteHeader(w, d)
	c := httpCode(d.Code)
	id := d.RequestID
	if id == "" {
		id = w.Header().Get(RequestIDHeader)
	}
	_ = json.NewEncoder(w).Encode(body{
		Type: "https://outrider.dev/problems/" + c.String(), Title: c.Title(), Status: c.Status(),
		Detail: d.Detail, Code: c.String(), Instance: d.Instance, Errors: d.Errors, RequestID: id,
	})
}

// WriteUpgradeRefusal is the WebSocket gateway's answer to an upgrade it
// refuses (GET /v1/ws, before the upgrade). Its body predates Write and
// differs from it: keys in alphabetical order, the status's standard text
// as title (http.StatusText: "Service Unavailable", not the catalogue's
// "Service unavailable"), always a detail, no instance, and no
// Cache-Control header. It is kept byte for byte; making it Write's is a
// change of the wire. Like Write, it adds request_id when the answer
// carries RequestIDHeader.
func WriteUpgradeRefusal(w http.ResponseWriter, code Code, detail string) {
	c := httpCode(code)
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(c.Status())
	b := map[string]any{"type": "https://outrider.dev/problems/" + c.String(),
		"title": http.StatusText(c.Status()), "status": c.Status(), "detail": detail, "code": c.String()}
	if id := w.Header().Get(RequestIDHeader); id != "" {
		b["request_id"] = id
	}
	_ = json.NewEncoder(w).Encode(b)
}
