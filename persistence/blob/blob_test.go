package blob_test

import (
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence/blob"
)

func TestValidateKey(t *testing.T) {
	t.Parallel()
	cases := []struct {
		key string
		ok  bool
	}{
		{"orders/01J0ABC/proofs/7f3a.jpg", true},
		{"a", true},
		{"A-Z_a.z-0.9", true},
		{"a/b/c", true},
		{"..a/b..", true}, // dots inside a segment are fine
		{".hidden", true},
		{strings.Repeat("k", blob.MaxKeyBytes), true},
		{"", false},
		{strings.Repeat("k", blob.MaxKeyBytes+1), false},
		{"/a", false},
		{"a/", false},
		{"a//b", false},
		{"..", false},
		{"../a", false},
		{"a/../b", false},
		{"a/..", false},
		{".", false},
		{"a/./b", false},
		{"a b", false},
		{"a\\b", false},
		{"a%2Fb", false},
		{"a?b", false},
		{"a#b", false},
		{"a\nb", false},
		{"a\x00b", false},
		{"é", false},
	}
	for _, c := range cases {
		err := blob.ValidateKey(c.key)
		if c.ok {
			require.NoError(t, err, "%q", c.key)
		} else {
			require.ErrorIs(t, err, blob.ErrInvalidKey, "%q", c.key)
		}
	}
}

func TestValidateContentType(t *testing.T) {
	t.Parallel()
	for _, ct := range []string{"image/jpeg", "image/png", "image/webp", "text/plain; charset=utf-8", "application/octet-stream"} {
		require.NoError(t, blob.ValidateContentType(ct), ct)
	}
	for _, ct := range []string{"", "image", "image/jpeg\n", "image/jpeg\r\nX-Evil: 1", "imäge/jpeg", "/", strings.Repeat("a", 251) + "/jpeg"} {
		require.ErrorIs(t, blob.ValidateContentType(ct), blob.ErrInvalidContentType, "%q", ct)
	}
}

func TestValidateTTL(t *testing.T) {
	t.Parallel()
	require.NoError(t, blob.ValidateTTL(time.Second))
	require.NoError(t, blob.ValidateTTL(blob.MaxTTL))
	for _, d := range []time.Duration{0, -time.Second, time.Second - 1, blob.MaxTTL + 1} {
		require.ErrorIs(t, blob.ValidateTTL(d), blob.ErrInvalidTTL, "%v", d)
	}
}

// FuzzValidateKey checks that every key ValidateKey accepts is safe as a
// relative file path and as a URL path, with one spelling.
func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"orders/1/a.jpg", "a/../b", "/etc/passwd", "a//b", "..", "a/.", "a%2e%2e", "C:\\x", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if blob.ValidateKey(key) != nil {
			return
		}
		if len(key) == 0 || len(key) > blob.MaxKeyBytes {
			t.Fatalf("accepted key of %d bytes", len(key))
		}
		if path.Clean(key) != key || strings.HasPrefix(key, "/") {
			t.Fatalf("accepted unclean key %q", key)
		}
		if !filepath.IsLocal(key) {
			t.Fatalf("accepted key %q that escapes its root", key)
		}
		for seg := range strings.SplitSeq(key, "/") {
			if seg == ".." || seg == "." || url.PathEscape(seg) != seg {
				t.Fatalf("accepted key %q with segment %q", key, seg)
			}
		}
	})
}
