// Package blobtest is the conformance suite every blob.Store passes (the
// local disk store now, the S3 store with issue 5): the behaviours the
// API relies on, written once. Presigned requests go over real HTTP, so
// the suite checks what a client sees, not how a store signs.
//
// Statuses differ between stores (S3 answers a wrong Content-Type with a
// signature mismatch, the local store says which header is wrong), so
// the suite asks only for a 4xx and for nothing to have been written;
// each store's own tests pin its exact answers.
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence/blob"
)

// Harness is one store under test and what the suite needs to poke at it.
type Harness struct {
	Store blob.Store
	// Client makes the presigned requests.
	Client *http.Client
	// MaxObjectBytes is the store's limit.
	MaxObjectBytes int64
	// Advance moves the store's clock forward by d (or waits that long).
	// Nil skips the expiry cases.
	Advance func(d time.Duration)
}

// Run runs the suite. setup returns a fresh, empty store for one case and
// arranges its disposal with t.Cleanup; cases run in parallel.
func Run(t *testing.T, setup func(t *testing.T) Harness) {
	cases := []struct {
		name string
		run  func(t *testing.T, h Harness)
	}{
		{"PutStatOpenDelete", testPutStatOpenDelete},
		{"PutRefusals", testPutRefusals},
		{"InvalidKeys", testInvalidKeys},
		{"PresignedRoundTrip", testPresignedRoundTrip},
		{"PresignedRefusals", testPresignedRefusals},
		{"Expiry", testExpiry},
		{"Copy", testCopy},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, setup(t))
		})
	}
}

// Request builds the request a client makes for p with body: p's method,
// URL and headers, and a ContentLength taken from the Content-Length
// header (Go's client ignores that header in the map).
func Request(ctx context.Context, p blob.Presigned, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, p.Method, p.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range p.Headers {
		if http.CanonicalHeaderKey(k) == "Content-Length" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("Content-Length header %q: %w", v, err)
			}
			req.ContentLength = n
			continue
		}
		req.Header.Set(k, v)
	}
	if req.ContentLength == 0 {
		req.Body = http.NoBody
	}
	return req, nil
}

// Fill returns n bytes that differ from any other Fill with another seed.
func Fill(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

// do sends req and returns the status and body.
func do(t *testing.T, c *http.Client, req *http.Request) (int, []byte, http.Header) {
	t.Helper()
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, body, resp.Header
}

func requireObject(t *testing.T, s blob.Store, key, contentType string, want []byte) {
	t.Helper()
	ctx := context.Background()
	obj, err := s.Stat(ctx, key)
	require.NoError(t, err)
	require.Equal(t, key, obj.Key)
	require.Equal(t, int64(len(want)), obj.Size)
	require.Equal(t, contentType, obj.ContentType)
	rc, obj2, err := s.Open(ctx, key)
	require.NoError(t, err)
	defer rc.Close()
	require.Equal(t, obj, obj2)
	got, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got), "object %s differs from what was written", key)
}

func requireMissing(t *testing.T, s blob.Store, key string) {
	t.Helper()
	_, err := s.Stat(context.Background(), key)
	require.ErrorIs(t, err, blob.ErrNotFound)
	_, _, err = s.Open(context.Background(), key)
	require.ErrorIs(t, err, blob.ErrNotFound)
}

func testPutStatOpenDelete(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Store
	requireMissing(t, s, "orders/1/a.jpg")

	v1 := Fill(1000, 1)
	require.NoError(t, s.Put(ctx, "orders/1/a.jpg", "image/jpeg", bytes.NewReader(v1), int64(len(v1))))
	requireObject(t, s, "orders/1/a.jpg", "image/jpeg", v1)

	// An empty object is an object.
	require.NoError(t, s.Put(ctx, "orders/1/empty", "text/plain", bytes.NewReader(nil), 0))
	requireObject(t, s, "orders/1/empty", "text/plain", nil)

	// "a" and "a/b" are independent keys.
	require.NoError(t, s.Put(ctx, "orders/1/a.jpg/thumb", "image/png", bytes.NewReader(v1[:10]), 10))
	requireObject(t, s, "orders/1/a.jpg/thumb", "image/png", v1[:10])

	// Overwrite replaces bytes and type; an open reader keeps its version.
	rc, _, err := s.Open(ctx, "orders/1/a.jpg")
	require.NoError(t, err)
	v2 := Fill(500, 2)
	require.NoError(t, s.Put(ctx, "orders/1/a.jpg", "image/png", bytes.NewReader(v2), int64(len(v2))))
	requireObject(t, s, "orders/1/a.jpg", "image/png", v2)
	old, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.Equal(t, v1, old)

	require.NoError(t, s.Delete(ctx, "orders/1/a.jpg"))
	requireMissing(t, s, "orders/1/a.jpg")
	require.NoError(t, s.Delete(ctx, "orders/1/a.jpg"), "deleting a missing object is not an error")
	requireObject(t, s, "orders/1/a.jpg/thumb", "image/png", v1[:10])
}

func testPutRefusals(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Store
	prev := Fill(100, 3)
	require.NoError(t, s.Put(ctx, "k", "image/jpeg", bytes.NewReader(prev), 100))
	boom := errors.New("boom")
	cases := []struct {
		name string
		ct   string
		r    io.Reader
		size int64
		want error
	}{
		{"reader shorter than size", "image/jpeg", bytes.NewReader(Fill(99, 4)), 100, blob.ErrSizeMismatch},
		{"reader longer than size", "image/jpeg", bytes.NewReader(Fill(101, 4)), 100, blob.ErrSizeMismatch},
		{"reader fails midway", "image/jpeg", io.MultiReader(bytes.NewReader(Fill(50, 4)), iotest.ErrReader(boom)), 100, boom},
		{"negative size", "image/jpeg", bytes.NewReader(nil), -1, blob.ErrSizeMismatch},
		{"over the limit", "image/jpeg", bytes.NewReader(nil), h.MaxObjectBytes + 1, blob.ErrTooLarge},
		{"empty content type", "", bytes.NewReader(Fill(100, 4)), 100, blob.ErrInvalidContentType},
		{"content type with newline", "image/jpeg\nx", bytes.NewReader(Fill(100, 4)), 100, blob.ErrInvalidContentType},
	}
	for _, c := range cases {
		err := s.Put(ctx, "k", c.ct, c.r, c.size)
		require.ErrorIs(t, err, c.want, c.name)
		requireObject(t, s, "k", "image/jpeg", prev)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, s.Put(cctx, "k", "image/jpeg", bytes.NewReader(Fill(100, 4)), 100), context.Canceled)
	requireObject(t, s, "k", "image/jpeg", prev)
}

func testInvalidKeys(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Store
	for _, key := range []string{"", "/abs", "a/../b", "..", "a//b", "a/", "a b", "a?b", "a%2Fb", strings.Repeat("k", blob.MaxKeyBytes+1)} {
		_, err := s.Stat(ctx, key)
		require.ErrorIs(t, err, blob.ErrInvalidKey, "Stat %q", key)
		_, _, err = s.Open(ctx, key)
		require.ErrorIs(t, err, blob.ErrInvalidKey, "Open %q", key)
		require.ErrorIs(t, s.Put(ctx, key, "text/plain", strings.NewReader("x"), 1), blob.ErrInvalidKey, "Put %q", key)
		require.ErrorIs(t, s.Delete(ctx, key), blob.ErrInvalidKey, "Delete %q", key)
		_, err = s.PresignPut(ctx, key, "text/plain", 1, time.Minute)
		require.ErrorIs(t, err, blob.ErrInvalidKey, "PresignPut %q", key)
		_, err = s.PresignGet(ctx, key, time.Minute)
		require.ErrorIs(t, err, blob.ErrInvalidKey, "PresignGet %q", key)
	}
	_, err := s.PresignPut(ctx, "k", "image/png", h.MaxObjectBytes+1, time.Minute)
	require.ErrorIs(t, err, blob.ErrTooLarge)
	_, err = s.PresignPut(ctx, "k", "image/png", 1, 0)
	require.ErrorIs(t, err, blob.ErrInvalidTTL)
	_, err = s.PresignGet(ctx, "k", blob.MaxTTL+time.Second)
	require.ErrorIs(t, err, blob.ErrInvalidTTL)
}

func testCopy(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Store
	v1, v2 := Fill(3000, 1), Fill(20, 2)
	require.NoError(t, s.Put(ctx, "up/a.png", "image/png", bytes.NewReader(v1), int64(len(v1))))
	require.NoError(t, s.Copy(ctx, "up/a.png", "final/a.png"))
	requireObject(t, s, "final/a.png", "image/png", v1)

	// The copy is independent of its source: overwriting or deleting the
	// source leaves it alone.
	require.NoError(t, s.Put(ctx, "up/a.png", "image/jpeg", bytes.NewReader(v2), int64(len(v2))))
	requireObject(t, s, "final/a.png", "image/png", v1)
	require.NoError(t, s.Delete(ctx, "up/a.png"))
	requireObject(t, s, "final/a.png", "image/png", v1)

	// Copying over an existing object replaces it.
	require.NoError(t, s.Put(ctx, "up/b.png", "image/webp", bytes.NewReader(v2), int64(len(v2))))
	require.NoError(t, s.Copy(ctx, "up/b.png", "final/a.png"))
	requireObject(t, s, "final/a.png", "image/webp", v2)

	require.ErrorIs(t, s.Copy(ctx, "up/missing.png", "final/x.png"), blob.ErrNotFound)
	requireMissing(t, s, "final/x.png")
	require.ErrorIs(t, s.Copy(ctx, "a//b", "final/y.png"), blob.ErrInvalidKey)
	require.ErrorIs(t, s.Copy(ctx, "up/b.png", "../y"), blob.ErrInvalidKey)
}

func testPresignedRoundTrip(t *testing.T, h Harness) {
	ctx := context.Background()
	body := Fill(64<<10, 5)
	p, err := h.Store.PresignPut(ctx, "orders/2/proof.jpg", "image/jpeg", int64(len(body)), 5*time.Minute)
	require.NoError(t, err)
	require.Equal(t, http.MethodPut, p.Method)
	require.Equal(t, "image/jpeg", p.Headers["Content-Type"])
	require.Equal(t, strconv.Itoa(len(body)), p.Headers["Content-Length"])
	require.False(t, p.ExpiresAt.IsZero())

	req, err := Request(ctx, p, body)
	require.NoError(t, err)
	status, resp, _ := do(t, h.Client, req)
	require.True(t, status/100 == 2, "upload: %d %s", status, resp)
	requireObject(t, h.Store, "orders/2/proof.jpg", "image/jpeg", body)

	g, err := h.Store.PresignGet(ctx, "orders/2/proof.jpg", time.Minute)
	require.NoError(t, err)
	require.Equal(t, http.MethodGet, g.Method)
	req, err = Request(ctx, g, nil)
	require.NoError(t, err)
	status, got, hdr := do(t, h.Client, req)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "image/jpeg", hdr.Get("Content-Type"))
	require.True(t, bytes.Equal(body, got), "download differs from upload")

	// A missing object presigns (no existence check) and answers 404.
	g, err = h.Store.PresignGet(ctx, "orders/2/none.jpg", time.Minute)
	require.NoError(t, err)
	req, err = Request(ctx, g, nil)
	require.NoError(t, err)
	status, _, _ = do(t, h.Client, req)
	require.Equal(t, http.StatusNotFound, status)
}

// tamperSignature changes one character of every query parameter whose
// name mentions a signature.
func tamperSignature(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	require.NoError(t, err)
	q := u.Query()
	n := 0
	for k, v := range q {
		if strings.Contains(strings.ToLower(k), "sig") {
			b := []byte(v[0])
			b[len(b)/2] ^= 1 // still base64/hex-ish, never equal
			q.Set(k, string(b))
			n++
		}
	}
	require.NotZero(t, n, "no signature parameter in %s", raw)
	u.RawQuery = q.Encode()
	return u.String()
}

func testPresignedRefusals(t *testing.T, h Harness) {
	ctx := context.Background()
	const key, other = "orders/3/proof.png", "orders/4/proof.png"
	body := Fill(1000, 6)
	cases := []struct {
		name   string
		mutate func(p *blob.Presigned) []byte // returns the body to send
	}{
		{"wrong content type", func(p *blob.Presigned) []byte { p.Headers["Content-Type"] = "text/html"; return body }},
		{"shorter body", func(p *blob.Presigned) []byte { p.Headers["Content-Length"] = "999"; return body[:999] }},
		{"longer body", func(p *blob.Presigned) []byte { p.Headers["Content-Length"] = "1001"; return append(body, 'x') }},
		{"tampered signature", func(p *blob.Presigned) []byte { p.URL = tamperSignature(t, p.URL); return body }},
		{"another key", func(p *blob.Presigned) []byte { p.URL = strings.Replace(p.URL, key, other, 1); return body }},
	}
	for _, c := range cases {
		p, err := h.Store.PresignPut(ctx, key, "image/png", int64(len(body)), time.Minute)
		require.NoError(t, err)
		send := c.mutate(&p)
		req, err := Request(ctx, p, send)
		require.NoError(t, err)
		status, resp, _ := do(t, h.Client, req)
		require.True(t, status/100 == 4, "%s: got %d %s", c.name, status, resp)
		requireMissing(t, h.Store, key)
		requireMissing(t, h.Store, other)
	}

	// A GET URL does not upload.
	g, err := h.Store.PresignGet(ctx, key, time.Minute)
	require.NoError(t, err)
	g.Method = http.MethodPut
	g.Headers = map[string]string{"Content-Type": "image/png", "Content-Length": "1000"}
	req, err := Request(ctx, g, body)
	require.NoError(t, err)
	status, resp, _ := do(t, h.Client, req)
	require.True(t, status/100 == 4, "GET URL used for PUT: got %d %s", status, resp)
	requireMissing(t, h.Store, key)
}

func testExpiry(t *testing.T, h Harness) {
	if h.Advance == nil {
		t.Skip("the harness cannot move the store's clock")
	}
	ctx := context.Background()
	const key = "orders/5/proof.webp"
	body := Fill(300, 7)
	put, err := h.Store.PresignPut(ctx, key, "image/webp", int64(len(body)), 5*time.Second)
	require.NoError(t, err)
	get, err := h.Store.PresignGet(ctx, key, 5*time.Second)
	require.NoError(t, err)
	req, err := Request(ctx, put, body)
	require.NoError(t, err)
	status, resp, _ := do(t, h.Client, req)
	require.True(t, status/100 == 2, "upload: %d %s", status, resp)

	h.Advance(6 * time.Second)
	req, err = Request(ctx, put, Fill(300, 8))
	require.NoError(t, err)
	status, resp, _ = do(t, h.Client, req)
	require.True(t, status/100 == 4, "expired PUT URL reused: got %d %s", status, resp)
	requireObject(t, h.Store, key, "image/webp", body)

	req, err = Request(ctx, get, nil)
	require.NoError(t, err)
	status, resp, _ = do(t, h.Client, req)
	require.True(t, status/100 == 4, "expired GET URL: got %d %s", status, resp)
}
