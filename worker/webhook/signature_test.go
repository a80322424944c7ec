package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/outrider/outrider/worker/webhook"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// reference computes v1 the way the package comment tells integrators to,
// independently of the package.
func reference(secret string, ts int64, body string) string {
	h := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(h, "%d.%s", ts, body)
	return hex.EncodeToString(h.Sum(nil))
}

func TestSignFormat(t *testing.T) {
	t.Parallel()
	const secret, body = "whsec_test", `{"id":"order:01J:3","seq":3}`
	got := webhook.Sign([]byte(secret), t0, []byte(body))
	require.Equal(t, fmt.Sprintf("t=%d,v1=%s", t0.Unix(), reference(secret, t0.Unix(), body)), got)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	secret := []byte("whsec_right")
	body := []byte(`{"id":"order:01J:3","type":"order.status_changed"}`)
	good := webhook.Sign(secret, t0, body)
	goodSig := strings.TrimPrefix(good, fmt.Sprintf("t=%d,", t0.Unix()))
	other := webhook.Sign([]byte("whsec_other"), t0, body)
	otherSig := strings.TrimPrefix(other, fmt.Sprintf("t=%d,", t0.Unix()))
	ts := fmt.Sprintf("t=%d", t0.Unix())

	tests := []struct {
		name      string
		secret    []byte
		header    string
		body      []byte
		now       time.Time
		tolerance time.Duration
		wantErr   error
	}{
		{name: "valid", header: good},
		{name: "valid at edge of tolerance", header: good, now: t0.Add(5 * time.Minute)},
		{name: "valid slightly in the future", header: good, now: t0.Add(-time.Minute)},
		{name: "rotation: second v1 matches", header: ts + "," + otherSig + "," + goodSig},
		{name: "unknown schemes and spaces ignored", header: ts + ", v0=deadbeef , " + goodSig + ",junk"},
		{name: "non-positive tolerance means default", header: good, now: t0.Add(4 * time.Minute), tolerance: -1},
		{name: "tampered body", header: good, body: []byte(`{"id":"order:01J:3","type":"order.cancelled"}`), wantErr: webhook.ErrBadSignature},
		{name: "wrong secret", header: good, secret: []byte("whsec_wrong"), wantErr: webhook.ErrBadSignature},
		{name: "signature not hex", header: ts + ",v1=zz", wantErr: webhook.ErrBadSignature},
		{name: "signature truncated", header: good[:len(good)-2], wantErr: webhook.ErrBadSignature},
		{name: "stale timestamp", header: good, now: t0.Add(5*time.Minute + time.Second), wantErr: webhook.ErrTimestampOutOfRange},
		{name: "timestamp from the future", header: good, now: t0.Add(-6 * time.Minute), wantErr: webhook.ErrTimestampOutOfRange},
		{name: "timestamp changed", header: fmt.Sprintf("t=%d,", t0.Unix()+1) + goodSig, now: t0, wantErr: webhook.ErrBadSignature},
		{name: "tight tolerance", header: good, now: t0.Add(2 * time.Second), tolerance: time.Second, wantErr: webhook.ErrTimestampOutOfRange},
		{name: "empty header", header: "", wantErr: webhook.ErrNoSignature},
		{name: "no v1", header: ts, wantErr: webhook.ErrNoSignature},
		{name: "no timestamp", header: goodSig, wantErr: webhook.ErrInvalidHeader},
		{name: "timestamp not a number", header: "t=soon," + goodSig, wantErr: webhook.ErrInvalidHeader},
		{name: "two timestamps", header: ts + "," + ts + "," + goodSig, wantErr: webhook.ErrInvalidHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, b, now, tol := secret, body, t0, 5*time.Minute
			if tt.secret != nil {
				s = tt.secret
			}
			if tt.body != nil {
				b = tt.body
			}
			if !tt.now.IsZero() {
				now = tt.now
			}
			if tt.tolerance != 0 {
				tol = tt.tolerance
			}
			err := webhook.Verify(s, tt.header, b, now, tol)
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
		})
	}
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	a, err := webhook.NewSecret()
	require.NoError(t, err)
	b, err := webhook.NewSecret()
	require.NoError(t, err)
	require.NotEqual(t, a, b)
	for _, s := range []string{a, b} {
		require.True(t, strings.HasPrefix(s, webhook.SecretPrefix), s)
		raw, err := hex.DecodeString(strings.TrimPrefix(s, webhook.SecretPrefix))
		require.NoError(t, err)
		require.Len(t, raw, 32)
	}
	body := []byte(`{}`)
	require.NoError(t, webhook.Verify([]byte(a), webhook.Sign([]byte(a), t0, body), body, t0, time.Minute))
	require.ErrorIs(t, webhook.Verify([]byte(b), webhook.Sign([]byte(a), t0, body), body, t0, time.Minute), webhook.ErrBadSignature)
}

// FuzzVerify feeds receivers' parser arbitrary headers: it must not panic,
// must not accept a header not made with the secret, and Sign's output must
// always verify.
func FuzzVerify(f *testing.F) {
	f.Add([]byte("whsec_x"), []byte(`{"a":1}`), "t=1767268800,v1=00")
	f.Add([]byte(""), []byte(""), "")
	f.Add([]byte("k"), []byte("{}"), "t=-1,v1=,v1=zz,,=,t")
	f.Add([]byte("k"), []byte("{}"), "t=99999999999999999999,v1=ab")
	f.Fuzz(func(t *testing.T, secret, body []byte, header string) {
		err := webhook.Verify(secret, header, body, t0, time.Hour)
		if err == nil {
			// Only a genuine signature may pass: recompute it.
			var ts int64
			for item := range strings.SplitSeq(header, ",") {
				if k, v, _ := strings.Cut(strings.TrimSpace(item), "="); k == "t" {
					_, scanErr := fmt.Sscan(v, &ts)
					require.NoError(t, scanErr)
				}
			}
			require.Contains(t, strings.ToLower(header), reference(string(secret), ts, string(body)))
		}
		h := webhook.Sign(secret, t0, body)
		require.NoError(t, webhook.Verify(secret, h, body, t0, time.Minute))
	})
}
