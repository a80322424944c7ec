package local

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/outrider/outrider/persistence/blob"
	"github.com/outrider/outrider/problem"
)

// Handler serves the store's signed URLs; mount it at PathPrefix on the
// node's public server (it expects the full path, so do not strip the
// prefix). PUT uploads with a PresignPut URL, GET and HEAD download with
// a PresignGet URL. Refusals are problem+json (package problem) with
// these codes:
//
//	403 forbidden           bad, tampered or expired URL; URL for another
//	                        method; Content-Type or a smaller Content-Length
//	                        than signed
//	404 not_found           GET of a missing object, or a path outside PathPrefix
//	405 method_not_allowed  anything but GET, HEAD, PUT
//	411 length_required     upload without Content-Length (chunked)
//	413 body_too_large      upload bigger than signed
//	422 validation_failed   invalid key in the path; body shorter than its
//	                        Content-Length (client went away)
//
// A refused upload stores nothing. The handler authenticates before it
// looks at headers, so an unsigned request always learns only "403".
func (s *Store) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			err = s.serveGet(w, r)
		case http.MethodPut:
			err = s.servePut(w, r)
		default:
			w.Header().Set("Allow", "GET, HEAD, PUT")
			err = &apiError{problem.MethodNotAllowed, r.Method + " is not allowed on blobs", nil}
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}

// keyOf is the object key a request's path names.
func keyOf(r *http.Request) (string, error) {
	key, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	if !ok {
		return "", &apiError{problem.NotFound, "not a blob path", nil}
	}
	if err := blob.ValidateKey(key); err != nil {
		return "", &apiError{problem.ValidationFailed, err.Error(), nil}
	}
	return key, nil
}

func (s *Store) servePut(w http.ResponseWriter, r *http.Request) error {
	key, err := keyOf(r)
	if err != nil {
		return err
	}
	g, err := s.authorize(r.Method, key, r.URL.RawQuery)
	if err != nil {
		return err
	}
	if ct := r.Header.Values("Content-Type"); len(ct) != 1 || ct[0] != g.contentType {
		return forbidden("Content-Type %q differs from the signed %q", strings.Join(ct, ", "), g.contentType)
	}
	switch {
	case r.ContentLength < 0:
		return &apiError{problem.LengthRequired, fmt.Sprintf("send Content-Length: %d, not a chunked body", g.contentLength), nil}
	case r.ContentLength > g.contentLength:
		return &apiError{problem.BodyTooLarge, fmt.Sprintf("Content-Length %d is more than the signed %d", r.ContentLength, g.contentLength), nil}
	case r.ContentLength < g.contentLength:
		return forbidden("Content-Length %d differs from the signed %d", r.ContentLength, g.contentLength)
	}
	err = s.write(r.Context(), key, g.contentType, r.Body, g.contentLength)
	switch {
	case errors.Is(err, errBodyLong):
		return &apiError{problem.BodyTooLarge, fmt.Sprintf("body is longer than the signed %d bytes", g.contentLength), nil}
	case errors.Is(err, errBodyShort):
		return &apiError{problem.ValidationFailed, err.Error(), nil}
	case errors.As(err, new(*readError)):
		return &apiError{problem.ValidationFailed, "upload interrupted before the signed length", err}
	case err != nil:
		return fmt.Errorf("store upload %s: %w", key, err)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Store) serveGet(w http.ResponseWriter, r *http.Request) error {
	key, err := keyOf(r)
	if err != nil {
		return err
	}
	g, err := s.authorize(r.Method, key, r.URL.RawQuery)
	if err != nil {
		return err
	}
	rc, obj, err := s.Open(r.Context(), key)
	if errors.Is(err, blob.ErrNotFound) {
		return &apiError{problem.NotFound, "no object under this key", nil}
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	remaining := time.Unix(g.expires, 0).Sub(s.now()) / time.Second
	h := w.Header()
	h.Set("Content-Type", obj.ContentType)
	h.Set("Content-Length", strconv.FormatInt(obj.Size, 10))
	h.Set("Last-Modified", obj.ModTime.UTC().Format(http.TimeFormat))
	// The browser may keep it only as long as the URL is valid, and
	// only for this user.
	h.Set("Cache-Control", "private, max-age="+strconv.FormatInt(int64(remaining), 10))
	// Uploaded bytes are untrusted: never sniffed into HTML, and if a
	// browser renders them anyway, no scripts and no origin.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	if _, err := io.Copy(w, rc); err != nil {
		// Headers are gone; all we can do is log and cut the response.
		s.log.Warn("blob download interrupted", "key", key, "err", err)
	}
	return nil
}

// apiError is a refusal the handler renders as problem+json. cause, if
// set, is logged and not shown.
type apiError struct {
	code   problem.Code
	detail string
	cause  error
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return e.code.String() + ": " + e.detail + ": " + e.cause.Error()
	}
	return e.code.String() + ": " + e.detail
}

func (e *apiError) Unwrap() error { return e.cause }

// writeError renders err as problem+json (status and title from package
// problem's catalogue): *errForbidden and *apiError by their code,
// anything else as a logged internal error. A HEAD answer has no body.
func (s *Store) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		fe *errForbidden
		ae *apiError
	)
	switch {
	case errors.As(err, &fe):
		ae = &apiError{problem.Forbidden, fe.detail, nil}
	case errors.As(err, &ae):
		if ae.cause != nil {
			s.log.Info("blob request refused", "method", r.Method, "path", r.URL.Path, "code", ae.code.String(), "err", ae.cause)
		}
	default:
		s.log.Error("blob request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = &apiError{problem.Internal, "an internal error occurred", nil}
	}
	d := problem.Details{Code: ae.code, Detail: ae.detail, Instance: r.URL.Path}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		problem.WriteHeader(w, d)
		return
	}
	problem.Write(w, d)
}
