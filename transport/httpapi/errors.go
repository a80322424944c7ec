package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/problem"
)

// Error is what a handler returns when it refuses a request; writeError
// renders it as RFC 9457 problem+json (problem.Write). Build one with
// errorf, newError, invalid or rejected. Its Code is a problem.Code, so a
// code that is not in the catalogue does not compile (an untyped string
// constant does not convert to one); TestErrorsAreBuiltByConstructors
// keeps the constructors the only place that builds an Error.
type Error struct {
	// Code is set by the constructors; read it, do not set it.
	Code       problem.Code
	Detail     string
	Fields     []problem.FieldError
	RetryAfter int // seconds, for rate_limited and unavailable
	cause      error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return e.Code.String() + ": " + e.Detail + ": " + e.cause.Error()
	}
	return e.Code.String() + ": " + e.Detail
}

func (e *Error) Unwrap() error { return e.cause }

// newError builds an Error with a fixed detail.
func newError(code problem.Code, detail string) *Error {
	return &Error{Code: code, Detail: detail}
}

// errorf builds an Error with a formatted detail.
func errorf(code problem.Code, format string, args ...any) *Error {
	return newError(code, fmt.Sprintf(format, args...))
}

// retryAfter asks the client to wait secs seconds (Retry-After).
func (e *Error) retryAfter(secs int) *Error {
	e.RetryAfter = secs
	return e
}

// because records the error behind e: logged, never shown.
func (e *Error) because(cause error) *Error {
	e.cause = cause
	return e
}

// invalid is a validation_failed error naming the offending fields.
func invalid(fields ...problem.FieldError) *Error {
	e := newError(problem.ValidationFailed, "the request is not valid")
	e.Fields = fields
	if len(fields) == 1 {
		e.Detail = fields[0].Field + ": " + fields[0].Message
	}
	return e
}

// catalogue is every code the v1 API's handlers answer with; the OpenAPI
// document's Problem.code enum lists them and the blob handler's
// length_required (TestCatalogueCodesAreDocumented). Status and title are
// package problem's; the WebSocket frames' own codes are not here.
var catalogue = codeSet(
	problem.MalformedJSON,
	problem.UnknownField,
	problem.ValidationFailed,
	problem.BodyTooLarge,
	problem.UnsupportedMediaType,
	problem.Unauthorized,
	problem.TokenExpired,
	problem.Forbidden,
	problem.NotFound,
	problem.MethodNotAllowed,
	problem.UpgradeRequired,
	problem.InvalidTransition,
	problem.OrderAlreadyAssigned,
	problem.DriverUnavailable,
	problem.DriverNotFound,
	problem.VersionConflict,
	problem.EmailTaken,
	problem.AlreadyExists,
	problem.ProofRequired,
	problem.ProofLimitReached,
	problem.OfferExpired,
	problem.CapacityInUse,
	problem.LocationRequired,
	problem.DispatchInProgress,
	problem.WeakPassword,
	problem.CannotEraseSelf,
	problem.LastAdmin,
	problem.UserHasActiveOrders,
	problem.ResetTokenInvalid,
	problem.UploadNotFound,
	problem.UploadInvalid,
	problem.IdempotencyKeyReused,
	problem.IdempotencyInProgress,
	problem.RateLimited,
	problem.Unavailable,
	problem.Internal,
)

func codeSet(codes ...problem.Code) map[problem.Code]bool {
	m := make(map[problem.Code]bool, len(codes))
	for _, c := range codes {
		m[c] = true
	}
	return m
}

// writeError renders err as problem+json. Errors that are not *Error are
// internal: logged, and answered without their text.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "request_id", requestIDOf(r), "err", err)
		e = newError(problem.Internal, "an internal error occurred")
	}
	code := e.Code
	if !catalogue[code] {
		// A code the API does not answer with (the blob handler's or a
		// frame's), or an Error not built by its constructors.
		s.log.Error("error code missing from the API's catalogue", "code", code.String())
		code = problem.Internal
	}
	if code.Status() >= 500 && e.cause != nil {
		s.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "code", e.Code.String(), "request_id", requestIDOf(r), "err", e.cause)
	}
	if code.Status() == http.StatusUnauthorized {
		// RFC 6750 §3: every 401 names the scheme; a token that was
		// presented and refused is an invalid_token.
		challenge := `Bearer realm="outrider"`
		if r.Header.Get("Authorization") != "" || r.URL.Query().Get("access_token") != "" {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	d := problem.Details{Code: code, Detail: e.Detail, Instance: r.URL.Path,
		Errors: e.Fields, RetryAfter: e.RetryAfter}
	if ai := accessOf(r); ai != nil {
		ai.code = code.String()
		d.RequestID = ai.id
	}
	problem.Write(w, d)
}

// rejections maps each of the domain's rejection codes to the API's code
// for it; the wire carries the domain's name. It is total over
// actors.Code* (TestEveryRejectionCodeMaps).
var rejections = map[string]problem.Code{
	actors.CodeValidation:         problem.ValidationFailed,
	actors.CodeNotFound:           problem.NotFound,
	actors.CodeForbidden:          problem.Forbidden,
	actors.CodeInvalidTransition:  problem.InvalidTransition,
	actors.CodeAlreadyAssigned:    problem.OrderAlreadyAssigned,
	actors.CodeDriverUnavailable:  problem.DriverUnavailable,
	actors.CodeDriverNotFound:     problem.DriverNotFound,
	actors.CodeVersionConflict:    problem.VersionConflict,
	actors.CodeEmailTaken:         problem.EmailTaken,
	actors.CodeAlreadyExists:      problem.AlreadyExists,
	actors.CodeProofRequired:      problem.ProofRequired,
	actors.CodeProofLimit:         problem.ProofLimitReached,
	actors.CodeOfferExpired:       problem.OfferExpired,
	actors.CodeCapacityInUse:      problem.CapacityInUse,
	actors.CodeLocationRequired:   problem.LocationRequired,
	actors.CodeDispatchInProgress: problem.DispatchInProgress,
	actors.CodeUnauthorized:       problem.Unauthorized,
	actors.CodeEraseSelf:          problem.CannotEraseSelf,
	actors.CodeLastAdmin:          problem.LastAdmin,
	// The cluster client retries CodeRetry; one that reaches the API is a
	// bug, answered as internal.
	actors.CodeRetry: problem.Internal,
}

// rejected converts an actor's rejection into an API error.
func rejected(code, message string) *Error {
	c, ok := rejections[code]
	if !ok || c == problem.Internal {
		return newError(problem.Internal, "unexpected rejection").because(fmt.Errorf("%s: %s", code, message))
	}
	return newError(c, message)
}
