package local

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/outrider/outrider/persistence/blob"
)

// PathPrefix is where Handler must be mounted on the node's public
// server: signed URLs are baseURL + PathPrefix + key.
const PathPrefix = "/v1/blobs/"

// The query parameters of a signed URL.
//
//	PUT  <base>/v1/blobs/<key>?ct=<content type>&len=<bytes>&expires=<unix s>&sig=<sig>
//	GET  <base>/v1/blobs/<key>?expires=<unix s>&sig=<sig>
//
// sig is base64url (unpadded) HMAC-SHA256 under the store's secret of
//
//	PUT: "PUT\n" + key + "\n" + ct + "\n" + len + "\n" + expires
//	GET: "GET\n" + key + "\n" + expires
//
// The newline cannot occur in a key or a valid content type, and len and
// expires are canonical decimals, so the string has one reading. ct and
// len travel in the URL so the handler can say which header is wrong
// (and answer 413 to a bigger body) instead of a bare signature mismatch.
const (
	paramContentType   = "ct"
	paramContentLength = "len"
	paramExpires       = "expires"
	paramSig           = "sig"
)

// grant is what a signed URL allows.
type grant struct {
	method        string // http.MethodPut or http.MethodGet
	key           string
	contentType   string // PUT only
	contentLength int64  // PUT only
	expires       int64  // unix seconds; valid while now < expires
}

func (g grant) stringToSign() string {
	if g.method == http.MethodPut {
		return g.method + "\n" + g.key + "\n" + g.contentType + "\n" +
			strconv.FormatInt(g.contentLength, 10) + "\n" + strconv.FormatInt(g.expires, 10)
	}
	return g.method + "\n" + g.key + "\n" + strconv.FormatInt(g.expires, 10)
}

func (s *Store) mac(g grant) []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(g.stringToSign()))
	return m.Sum(nil)
}

// url is the signed URL of g.
func (s *Store) url(g grant) string {
	q := url.Values{}
	if g.method == http.MethodPut {
		q.Set(paramContentType, g.contentType)
		q.Set(paramContentLength, strconv.FormatInt(g.contentLength, 10))
	}
	q.Set(paramExpires, strconv.FormatInt(g.expires, 10))
	q.Set(paramSig, base64.RawURLEncoding.EncodeToString(s.mac(g)))
	return s.baseURL + PathPrefix + g.key + "?" + q.Encode()
}

// expiry turns a ttl into the unix second the URL stops working at.
func (s *Store) expiry(ttl time.Duration) (int64, error) {
	if err := blob.ValidateTTL(ttl); err != nil {
		return 0, err
	}
	return s.now().Add(ttl).Unix(), nil
}

// PresignPut implements blob.Store: the URL points at the node's Handler.
func (s *Store) PresignPut(ctx context.Context, key, contentType string, contentLength int64, ttl time.Duration) (blob.Presigned, error) {
	if err := s.checkPut(key, contentType, contentLength); err != nil {
		return blob.Presigned{}, fmt.Errorf("presign put %s: %w", key, err)
	}
	exp, err := s.expiry(ttl)
	if err != nil {
		return blob.Presigned{}, fmt.Errorf("presign put %s: %w", key, err)
	}
	g := grant{method: http.MethodPut, key: key, contentType: contentType, contentLength: contentLength, expires: exp}
	return blob.Presigned{
		Method: http.MethodPut,
		URL:    s.url(g),
		Headers: map[string]string{
			"Content-Type":   contentType,
			"Content-Length": strconv.FormatInt(contentLength, 10),
		},
		ExpiresAt: time.Unix(exp, 0),
	}, nil
}

// PresignGet implements blob.Store: the URL points at the node's Handler
// and also serves HEAD.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (blob.Presigned, error) {
	if err := blob.ValidateKey(key); err != nil {
		return blob.Presigned{}, fmt.Errorf("presign get %s: %w", key, err)
	}
	exp, err := s.expiry(ttl)
	if err != nil {
		return blob.Presigned{}, fmt.Errorf("presign get %s: %w", key, err)
	}
	g := grant{method: http.MethodGet, key: key, expires: exp}
	return blob.Presigned{Method: http.MethodGet, URL: s.url(g), Headers: map[string]string{}, ExpiresAt: time.Unix(exp, 0)}, nil
}

// errForbidden is every way a URL can fail to authorise a request. The
// detail says which, for the client's developer; it reveals nothing that
// helps forge a signature.
type errForbidden struct{ detail string }

func (e *errForbidden) Error() string { return "forbidden: " + e.detail }

func forbidden(format string, args ...any) error {
	return &errForbidden{fmt.Sprintf(format, args...)}
}

// authorize checks that the query of a request for key, by method, is an
// unexpired grant signed by this store and returns it. GET and HEAD need
// a GET grant, PUT a PUT grant. It checks nothing about headers or body.
func (s *Store) authorize(method, key, rawQuery string) (grant, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return grant{}, forbidden("malformed query: %v", err)
	}
	one := func(name string) (string, error) {
		switch v := q[name]; len(v) {
		case 0:
			return "", forbidden("missing %s parameter", name)
		case 1:
			return v[0], nil
		default:
			return "", forbidden("repeated %s parameter", name)
		}
	}
	g := grant{key: key}
	switch method {
	case http.MethodPut:
		g.method = http.MethodPut
	case http.MethodGet, http.MethodHead:
		g.method = http.MethodGet
	default:
		return grant{}, forbidden("no URL is signed for %s", method)
	}
	_, hasCT := q[paramContentType]
	_, hasLen := q[paramContentLength]
	if g.method == http.MethodGet && (hasCT || hasLen) {
		return grant{}, forbidden("this URL is signed for PUT, not %s", method)
	}
	if g.method == http.MethodPut {
		if !hasCT && !hasLen {
			return grant{}, forbidden("this URL is signed for GET, not PUT")
		}
		if g.contentType, err = one(paramContentType); err != nil {
			return grant{}, err
		}
		l, err := one(paramContentLength)
		if err != nil {
			return grant{}, err
		}
		if g.contentLength, err = parseCanonical(l); err != nil {
			return grant{}, forbidden("%s: %v", paramContentLength, err)
		}
	}
	e, err := one(paramExpires)
	if err != nil {
		return grant{}, err
	}
	if g.expires, err = parseCanonical(e); err != nil {
		return grant{}, forbidden("%s: %v", paramExpires, err)
	}
	sig64, err := one(paramSig)
	if err != nil {
		return grant{}, err
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(sig64) // one spelling per signature
	if err != nil || len(sig) != sha256.Size {
		return grant{}, forbidden("malformed signature")
	}
	if !hmac.Equal(sig, s.mac(g)) {
		return grant{}, forbidden("signature does not match")
	}
	if now := s.now(); !now.Before(time.Unix(g.expires, 0)) {
		return grant{}, forbidden("URL expired at %s", time.Unix(g.expires, 0).UTC().Format(time.RFC3339))
	}
	return g, nil
}

var errNotCanonical = errors.New("not a canonical non-negative decimal")

// parseCanonical parses a non-negative decimal with no sign, no leading
// zero and no spaces, so each number has one spelling.
func parseCanonical(s string) (int64, error) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, errNotCanonical
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errNotCanonical
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errNotCanonical
	}
	return n, nil
}
