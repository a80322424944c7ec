package local

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence/blob"
)

var (
	testSecret = []byte("internal-test-secret-of-32-bytes!!")
	testNow    = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func newTestStore(t testing.TB) *Store {
	s, err := New(t.TempDir(), "http://node.test", testSecret, Options{Clock: func() time.Time { return testNow }})
	require.NoError(t, err)
	return s
}

// The handler reads at most the signed length plus one byte, whatever
// the request claims, and refuses a body that is longer. net/http never
// hands a handler more than Content-Length, so this is defence in depth
// for servers or proxies that might; it is tested on the handler itself.
func TestHandlerBodyDisagreesWithContentLength(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	cases := []struct {
		name   string
		body   io.Reader
		status int
		code   string
	}{
		{"longer than signed", bytes.NewReader(make([]byte, 101)), http.StatusRequestEntityTooLarge, "body_too_large"},
		{"much longer than signed", io.LimitReader(zeros{}, 1<<30), http.StatusRequestEntityTooLarge, "body_too_large"},
		{"shorter than signed", bytes.NewReader(make([]byte, 99)), http.StatusUnprocessableEntity, "validation_failed"},
		{"client goes away", io.MultiReader(bytes.NewReader(make([]byte, 50)), iotest.ErrReader(boom)), http.StatusUnprocessableEntity, "validation_failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newTestStore(t)
			p, err := s.PresignPut(context.Background(), "k.bin", "application/octet-stream", 100, time.Minute)
			require.NoError(t, err)
			req := httptest.NewRequest(http.MethodPut, p.URL, c.body)
			req.ContentLength = 100
			req.Header.Set("Content-Type", "application/octet-stream")
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			require.Equal(t, c.status, rec.Code, rec.Body.String())
			require.Contains(t, rec.Body.String(), `"code":"`+c.code+`"`)
			_, err = s.Stat(context.Background(), "k.bin")
			require.ErrorIs(t, err, blob.ErrNotFound)
			entries, err := os.ReadDir(s.tmp)
			require.NoError(t, err)
			require.Empty(t, entries)
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// A failing disk is a logged 500 without details, never a client error.
func TestHandlerDiskFailureIsInternal(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	require.NoError(t, os.RemoveAll(s.tmp))
	require.NoError(t, os.WriteFile(s.tmp, nil, 0o600)) // tmp is now a file: CreateTemp fails
	p, err := s.PresignPut(context.Background(), "k.bin", "application/octet-stream", 3, time.Minute)
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPut, p.URL, strings.NewReader("abc"))
	req.Header.Set("Content-Type", "application/octet-stream")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.Contains(t, rec.Body.String(), `"code":"internal"`)
	require.NotContains(t, rec.Body.String(), s.tmp)
}

// Two keys never share a file, and the file is under objects/.
func TestPathLayout(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	a, b := s.path("a"), s.path("a/b")
	require.NotEqual(t, a, b)
	for _, p := range []string{a, b} {
		rel, err := filepath.Rel(s.objects, p)
		require.NoError(t, err)
		require.True(t, filepath.IsLocal(rel))
		require.Len(t, filepath.Base(p), 64)
	}
}

// FuzzAuthorize feeds the URL parser and signature check arbitrary
// methods, keys and queries. The property: whatever it accepts is exactly
// one of the grants the store signed, for a method that grant allows;
// it never panics. Seeds are real URLs and their near misses.
func FuzzAuthorize(f *testing.F) {
	s := newTestStore(f)
	ctx := context.Background()
	put, err := s.PresignPut(ctx, "orders/1/p.jpg", "image/jpeg", 1000, time.Minute)
	require.NoError(f, err)
	get, err := s.PresignGet(ctx, "orders/1/p.jpg", time.Minute)
	require.NoError(f, err)
	empty, err := s.PresignPut(ctx, "e", "text/plain; charset=utf-8", 0, time.Hour)
	require.NoError(f, err)
	signed := map[grant]bool{
		{method: http.MethodPut, key: "orders/1/p.jpg", contentType: "image/jpeg", contentLength: 1000, expires: put.ExpiresAt.Unix()}: true,
		{method: http.MethodGet, key: "orders/1/p.jpg", expires: get.ExpiresAt.Unix()}:                                                 true,
		{method: http.MethodPut, key: "e", contentType: "text/plain; charset=utf-8", expires: empty.ExpiresAt.Unix()}:                  true,
	}
	query := func(raw string) string { u, _ := url.Parse(raw); return u.RawQuery }
	for _, p := range []blob.Presigned{put, get, empty} {
		key := strings.TrimPrefix(strings.SplitN(p.URL, "?", 2)[0], "http://node.test"+PathPrefix)
		q := query(p.URL)
		for _, m := range []string{http.MethodPut, http.MethodGet, http.MethodHead, "DELETE"} {
			f.Add(m, key, q)
		}
		f.Add(p.Method, key+"x", q)
		f.Add(p.Method, key, q+"&sig=AAAA")
		f.Add(p.Method, key, strings.Replace(q, "expires=", "expires=0", 1))
		f.Add(p.Method, key, strings.Replace(q, "expires=", "expires=+", 1))
		f.Add(p.Method, key, strings.Replace(q, "len=", "len=-", 1))
		f.Add(p.Method, key, strings.Replace(q, "sig=", "sig=%", 1))
		f.Add(p.Method, key, q[:len(q)-1])
	}
	f.Add("PUT", "k", "ct=a%2Fb&len=1&expires=99999999999999999999&sig=")
	f.Add("GET", "k", ";;&&==")

	f.Fuzz(func(t *testing.T, method, key, rawQuery string) {
		g, err := s.authorize(method, key, rawQuery)
		if err != nil {
			var fe *errForbidden
			if !errors.As(err, &fe) {
				t.Fatalf("refusal is not forbidden: %v", err)
			}
			return
		}
		if !signed[g] {
			t.Fatalf("accepted a grant that was never signed: %+v (method %q, key %q, query %q)", g, method, key, rawQuery)
		}
		if g.key != key {
			t.Fatalf("grant for %q accepted for key %q", g.key, key)
		}
		if g.method == http.MethodPut && method != http.MethodPut ||
			g.method == http.MethodGet && method != http.MethodGet && method != http.MethodHead {
			t.Fatalf("%s grant accepted for %s", g.method, method)
		}
	})
}

// TestSignatureHasOneSpelling: the signature's last base64 character
// carries two padding bits; a URL that changes only those is refused, so
// every signed URL has exactly one accepted spelling.
func TestSignatureHasOneSpelling(t *testing.T) {
	s := newTestStore(t)
	p, err := s.PresignGet(context.Background(), "orders/1/p.jpg", time.Minute)
	require.NoError(t, err)
	u, err := url.Parse(p.URL)
	require.NoError(t, err)
	q := u.Query()
	sig := q.Get(paramSig)
	_, err = s.authorize(http.MethodGet, "orders/1/p.jpg", u.RawQuery)
	require.NoError(t, err)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	for pad := range 4 {
		alt := alphabet[last&^3|pad]
		if alt == sig[len(sig)-1] {
			continue
		}
		q.Set(paramSig, sig[:len(sig)-1]+string(alt))
		_, err := s.authorize(http.MethodGet, "orders/1/p.jpg", q.Encode())
		require.Error(t, err, "padding bits changed to %c", alt)
	}
}
