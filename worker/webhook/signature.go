package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names set on every delivery.
const (
	HeaderEventID    = "Outrider-Event-Id"
	HeaderEventType  = "Outrider-Event-Type"
	HeaderDeliveryID = "Outrider-Delivery-Id"
	HeaderSignature  = "Outrider-Signature"
)

// UserAgent is the User-Agent of every delivery. The number changes when
// the request format changes incompatibly.
const UserAgent = "Outrider-Webhooks/1"

// SecretPrefix starts every secret returned by [NewSecret].
const SecretPrefix = "whsec_"

// DefaultTolerance is the replay window [Verify] uses when given a
// non-positive tolerance.
const DefaultTolerance = 5 * time.Minute

// Errors returned by [Verify]. They are wrapped with detail; compare with
// errors.Is.
var (
	// ErrNoSignature means the header is empty or carries no v1 signature.
	ErrNoSignature = errors.New("webhook: no signature")
	// ErrInvalidHeader means the header has no valid t= timestamp.
	ErrInvalidHeader = errors.New("webhook: malformed signature header")
	// ErrBadSignature means no v1 signature matches the body and secret.
	ErrBadSignature = errors.New("webhook: signature mismatch")
	// ErrTimestampOutOfRange means the signature is valid but was made too
	// far from now: a replay, or a badly skewed clock.
	ErrTimestampOutOfRange = errors.New("webhook: timestamp outside tolerance")
)

// Sign returns the Outrider-Signature header value for body signed with
// secret at time t: "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t.body)>".
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := t.Unix()
	return "t=" + strconv.FormatInt(ts, 10) + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

// signMulti signs body with each secret, for endpoints whose secret is
// being rotated: one v1 per secret, in order.
func signMulti(secrets [][]byte, t time.Time, body []byte) string {
	ts := t.Unix()
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(strconv.FormatInt(ts, 10))
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac(s, ts, body)))
	}
	return b.String()
}

func mac(secret []byte, ts int64, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(strconv.FormatInt(ts, 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks an Outrider-Signature header against the raw body. It
// succeeds when any v1 value matches (compared in constant time) and the
// header's timestamp is within tolerance of now, in either direction; a
// non-positive tolerance means [DefaultTolerance]. Unknown keys in the
// header are ignored. A signature mismatch is reported before a stale
// timestamp, so ErrTimestampOutOfRange always means "authentic but replayed
// or skewed".
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if strings.TrimSpace(header) == "" {
		return fmt.Errorf("verify: %w: empty header", ErrNoSignature)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var (
		ts      int64
		haveTS  bool
		sigs    [][]byte
		sawSigs bool
	)
	for item := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || haveTS {
				return fmt.Errorf("verify: %w: bad or repeated t=%q", ErrInvalidHeader, v)
			}
			ts, haveTS = n, true
		case "v1":
			sawSigs = true
			if sig, err := hex.DecodeString(v); err == nil && len(sig) == sha256.Size {
				sigs = append(sigs, sig)
			}
		}
	}
	if !haveTS {
		return fmt.Errorf("verify: %w: no t= timestamp", ErrInvalidHeader)
	}
	if !sawSigs {
		return fmt.Errorf("verify: %w: no v1= value", ErrNoSignature)
	}
	want := mac(secret, ts, body)
	matched := false
	for _, sig := range sigs {
		// Compare against every value so the time taken does not say which
		// one matched.
		if hmac.Equal(sig, want) {
			matched = true
		}
	}
	if !matched {
		return fmt.Errorf("verify: %w", ErrBadSignature)
	}
	signed := time.Unix(ts, 0)
	if d := now.Sub(signed); d > tolerance || d < -tolerance {
		return fmt.Errorf("verify: %w: signed at %s, now %s, tolerance %s",
			ErrTimestampOutOfRange, signed.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), tolerance)
	}
	return nil
}

// NewSecret returns a fresh endpoint signing secret: "whsec_" followed by
// 32 bytes from crypto/rand in lowercase hex (64 characters). Hex survives
// copy and paste, URLs and shell quoting unchanged. The whole string, prefix
// included, is the HMAC key.
func NewSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new webhook secret: %w", err)
	}
	return SecretPrefix + hex.EncodeToString(b[:]), nil
}
