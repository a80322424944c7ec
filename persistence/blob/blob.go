// Package blob is Outrider's object storage contract: proof-of-delivery
// photos, their thumbnails, anything too big for a database row.
//
// Start with Store. Clients never stream bytes through the API: the API
// hands them a Presigned request (PresignPut, PresignGet) and the client
// talks to the storage directly, exactly as with presigned S3 URLs. The
// API then checks what arrived with Stat before recording it.
//
// Implementations:
//   - persistence/blob/local keeps objects on the node's disk and serves
//     its own signed URLs (outrider dev);
//   - an S3 store (issue 5) presigns with minio-go.
//
// Both pass the conformance suite in persistence/blob/blobtest.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"
)

// Limits shared by every implementation.
const (
	// MaxKeyBytes is the longest key. S3 allows 1024; half that leaves
	// room for a bucket prefix and keeps keys readable in logs.
	MaxKeyBytes = 512
	// MaxContentTypeBytes is the longest content type accepted.
	MaxContentTypeBytes = 255
	// MinTTL and MaxTTL bound a presigned request's lifetime. URLs carry
	// expiry in whole seconds, so anything shorter than a second could be
	// born expired; seven days is S3's limit for SigV4 presigning.
	MinTTL = time.Second
	MaxTTL = 7 * 24 * time.Hour
)

// Errors. Implementations wrap them with context; compare with errors.Is.
var (
	// ErrNotFound: no object under the key.
	ErrNotFound = errors.New("blob: object not found")
	// ErrInvalidKey: the key breaks the rules of ValidateKey.
	ErrInvalidKey = errors.New("blob: invalid key")
	// ErrInvalidContentType: empty, overlong or unparsable content type.
	ErrInvalidContentType = errors.New("blob: invalid content type")
	// ErrInvalidTTL: a presign lifetime outside [MinTTL, MaxTTL].
	ErrInvalidTTL = errors.New("blob: invalid presign lifetime")
	// ErrTooLarge: the object is bigger than the store's limit.
	ErrTooLarge = errors.New("blob: object too large")
	// ErrSizeMismatch: Put's reader did not yield exactly the announced
	// number of bytes.
	ErrSizeMismatch = errors.New("blob: size mismatch")
)

// Store keeps objects under keys. Every method validates the key first
// and fails with ErrInvalidKey before touching storage.
//
// Writes are atomic: a reader sees either the whole previous object or
// the whole new one, never a part, and a write that fails (or a process
// that dies mid-write) leaves the previous state. Concurrent writes to
// one key are allowed; the last to complete wins, as in S3.
//
// Methods are safe for concurrent use.
type Store interface {
	// PresignPut returns the request a client makes to upload one object
	// of exactly contentLength bytes of contentType under key. The
	// signature binds method, key, content type, length and expiry: the
	// storage refuses the request if any of them differ (a different body
	// length, a different Content-Type header, an edited URL) or after
	// ExpiresAt, and then stores nothing. Until it expires the request
	// may be repeated; each success replaces the object (as in S3).
	// contentLength must be in [0, the store's limit] (else ErrTooLarge),
	// ttl in [MinTTL, MaxTTL].
	PresignPut(ctx context.Context, key, contentType string, contentLength int64, ttl time.Duration) (Presigned, error)

	// PresignGet returns a request that downloads the object under key
	// until ExpiresAt. It does not check that the object exists: the
	// download answers 404 if it does not.
	PresignGet(ctx context.Context, key string, ttl time.Duration) (Presigned, error)

	// Stat describes the object under key, or fails with ErrNotFound.
	// Size and ContentType are what was stored, not what was presigned:
	// callers that recorded a presign compare the two.
	Stat(ctx context.Context, key string) (Object, error)

	// Open returns the object's bytes and description, or ErrNotFound.
	// The reader yields exactly Object.Size bytes of one consistent
	// version even if the key is overwritten meanwhile. The caller closes
	// it.
	Open(ctx context.Context, key string) (io.ReadCloser, Object, error)

	// Put stores exactly size bytes read from r as the object under key
	// (server-side writes such as thumbnails). If r yields fewer or more
	// than size bytes, or fails, nothing is stored and the error wraps
	// ErrSizeMismatch or r's error. size above the store's limit is
	// ErrTooLarge; contentType is checked as by PresignPut.
	Put(ctx context.Context, key, contentType string, r io.Reader, size int64) error

	// Copy makes dst a copy of the object under src (bytes and content
	// type) without the bytes passing through the caller: server-side on
	// S3. ErrNotFound if src is missing. A recorded proof is copied to a
	// key that is never presigned, so a still-valid upload URL cannot
	// change it afterwards.
	Copy(ctx context.Context, src, dst string) error

	// Delete removes the object under key. Deleting a missing object is
	// not an error (as in S3), so a retried delete is harmless.
	Delete(ctx context.Context, key string) error
}

// Presigned is a request a client may make without credentials of its
// own. The client sends Method to URL with exactly Headers (no more
// signed ones, no fewer) and, for uploads, a body of the signed length.
type Presigned struct {
	Method string
	URL    string
	// Headers the client must send verbatim. For uploads they include
	// Content-Type and Content-Length, both bound by the signature. (Go's
	// http.Client takes the length from Request.ContentLength, not from
	// the header map.)
	Headers   map[string]string
	ExpiresAt time.Time
}

// Object describes a stored object.
type Object struct {
	Key         string
	Size        int64
	ContentType string
	// ModTime is when the current version was written, by the store's
	// clock.
	ModTime time.Time
}

// ValidateKey reports whether key may name an object: 1 to MaxKeyBytes
// bytes of [A-Za-z0-9/._-], made of non-empty segments separated by "/"
// (so no leading, trailing or doubled slash), none of them "." or "..".
// The rules keep a key safe as a file path and as a URL path without
// escaping, and mean one object has one spelling. The error wraps
// ErrInvalidKey and says which rule broke.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if len(key) > MaxKeyBytes {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidKey, len(key), MaxKeyBytes)
	}
	for i := 0; i < len(key); i++ {
		if !keyByte(key[i]) {
			return fmt.Errorf("%w: byte %d (%q) is not one of A-Z a-z 0-9 / . _ -", ErrInvalidKey, i, key[i])
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w: empty segment (leading, trailing or double slash)", ErrInvalidKey)
		case ".", "..":
			return fmt.Errorf("%w: %q segment", ErrInvalidKey, seg)
		}
	}
	return nil
}

func keyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '/' || c == '.' || c == '_' || c == '-'
}

// ValidateContentType reports whether ct may be an object's content type:
// printable ASCII, at most MaxContentTypeBytes, and a type/subtype media
// type (with optional parameters) that mime.ParseMediaType accepts. It
// is not normalised: uploads must send it byte for byte. The error wraps ErrInvalidContentType.
func ValidateContentType(ct string) error {
	if ct == "" || len(ct) > MaxContentTypeBytes {
		return fmt.Errorf("%w: %d bytes (want 1 to %d)", ErrInvalidContentType, len(ct), MaxContentTypeBytes)
	}
	for i := 0; i < len(ct); i++ {
		if ct[i] < 0x20 || ct[i] > 0x7e {
			return fmt.Errorf("%w: byte %d is not printable ASCII", ErrInvalidContentType, i)
		}
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrInvalidContentType, ct, err)
	}
	if typ, sub, ok := strings.Cut(mt, "/"); !ok || typ == "" || sub == "" {
		return fmt.Errorf("%w: %q is not type/subtype", ErrInvalidContentType, ct)
	}
	return nil
}

// ValidateTTL reports whether ttl is a valid presign lifetime; the error
// wraps ErrInvalidTTL.
func ValidateTTL(ttl time.Duration) error {
	if ttl < MinTTL || ttl > MaxTTL {
		return fmt.Errorf("%w: %v (want %v to %v)", ErrInvalidTTL, ttl, MinTTL, MaxTTL)
	}
	return nil
}
