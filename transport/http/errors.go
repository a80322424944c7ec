package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/outrider/outrider/actors"
)

// Error is what a handler returns when it refuses a request; writeError
// renders it as RFC 9457 problem+json. Code must be in the catalogue.
type Error struct {
	Code       string
	Detail     string
	Fields     []FieldError
	RetryAfter int // seconds, for rate_limited and unavailable
	cause      error
}

// FieldError names one invalid field of a request body or query.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	if e.cause != nil {
		return e.Code + ": " + e.Detail + ": " + e.cause.Error()
	}
	return e.Code + ": " + e.Detail
}

func (e *Error) Unwrap() error { return e.cause }

// errorf builds an Error with a formatted detail.
func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// invalid is a validation_failed error naming the offending fields.
func invalid(fields ...FieldError) *Error {
	e := &Error{Code: actors.CodeValidation, Detail: "the request is not valid", Fields: fields}
	if len(fields) == 1 {
		e.Detail = fields[0].Field + ": " + fields[0].Message
	}
	return e
}

// catalogueEntry is the HTTP status and title of an error code.
type catalogueEntry struct {
	Status int
	Title  string
}

// catalogue lists every error code the API answers with. Codes are
// stable: clients branch on them. A code missing here is a bug (500).
var catalogue = map[string]catalogueEntry{
	"malformed_json":             {http.StatusBadRequest, "Malformed JSON"},
	"unknown_field":              {http.StatusBadRequest, "Unknown field"},
	actors.CodeValidation:        {http.StatusUnprocessableEntity, "Validation failed"},
	"body_too_large":             {http.StatusRequestEntityTooLarge, "Request body too large"},
	"unsupported_media_type":     {http.StatusUnsupportedMediaType, "Unsupported media type"},
	"unauthorized":               {http.StatusUnauthorized, "Unauthorized"},
	"token_expired":              {http.StatusUnauthorized, "Access token expired"},
	actors.CodeForbidden:         {http.StatusForbidden, "Forbidden"},
	actors.CodeNotFound:          {http.StatusNotFound, "Not found"},
	"method_not_allowed":         {http.StatusMethodNotAllowed, "Method not allowed"},
	"upgrade_required":           {http.StatusUpgradeRequired, "Upgrade required"},
	actors.CodeInvalidTransition: {http.StatusConflict, "Invalid status transition"},
	actors.CodeAlreadyAssigned:   {http.StatusConflict, "Order already assigned"},
	actors.CodeDriverUnavailable: {http.StatusConflict, "Driver unavailable"},
	actors.CodeDriverNotFound:    {http.StatusUnprocessableEntity, "Driver not found"},
	actors.CodeVersionConflict:   {http.StatusConflict, "Version conflict"},
	actors.CodeEmailTaken:        {http.StatusConflict, "E-mail already registered"},
	actors.CodeAlreadyExists:     {http.StatusConflict, "Already exists"},
	actors.CodeProofRequired:     {http.StatusConflict, "Proof of delivery required"},
	actors.CodeProofLimit:        {http.StatusConflict, "Too many proofs"},
	"upload_not_found":           {http.StatusUnprocessableEntity, "Upload not found"},
	"upload_invalid":             {http.StatusUnprocessableEntity, "Upload does not match"},
	"idempotency_key_reused":     {http.StatusUnprocessableEntity, "Idempotency key reused with another request"},
	"idempotency_in_progress":    {http.StatusConflict, "Request with this idempotency key in progress"},
	"rate_limited":               {http.StatusTooManyRequests, "Too many requests"},
	"unavailable":                {http.StatusServiceUnavailable, "Service unavailable"},
	"internal":                   {http.StatusInternalServerError, "Internal error"},
}

type problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Code     string       `json:"code"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
}

// writeError renders err as problem+json. Errors that are not *Error are
// internal: logged, and answered without their text.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &Error{Code: "internal", Detail: "an internal error occurred"}
	}
	entry, ok := catalogue[e.Code]
	if !ok {
		s.log.Error("error code missing from catalogue", "code", e.Code)
		entry = catalogue["internal"]
	}
	if entry.Status >= 500 && e.cause != nil {
		s.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "code", e.Code, "err", e.cause)
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	p := problem{
		Type: "https://outrider.dev/problems/" + e.Code, Title: entry.Title, Status: entry.Status,
		Detail: e.Detail, Code: e.Code, Instance: r.URL.Path, Errors: e.Fields,
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(entry.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// rejected converts an actor's rejection into an API error.
func rejected(code, message string) *Error {
	if _, ok := catalogue[code]; !ok {
		return &Error{Code: "internal", Detail: "unexpected rejection", cause: fmt.Errorf("%s: %s", code, message)}
	}
	return &Error{Code: code, Detail: message}
}
