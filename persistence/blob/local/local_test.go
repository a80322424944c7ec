package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/outrider/outrider/persistence/blob"
	"github.com/outrider/outrider/persistence/blob/blobtest"
	"github.com/outrider/outrider/persistence/blob/local"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	secret = []byte("test-secret-test-secret-test-secret!")
	t0     = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

// clock is a settable time source for Options.Clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type bundle struct {
	srv   *httptest.Server
	clock *clock
	root  string
}

// setup builds a store in a temporary directory, served by a real HTTP
// server on a loopback port, with a clock the test moves.
func setup(t *testing.T) (*local.Store, *bundle) {
	t.Helper()
	b := &bundle{clock: &clock{now: t0}, root: t.TempDir()}
	mux := http.NewServeMux()
	b.srv = httptest.NewServer(mux)
	t.Cleanup(b.srv.Close)
	s, err := local.New(b.root, b.srv.URL, secret, local.Options{Clock: b.clock.Now})
	require.NoError(t, err)
	mux.Handle(local.PathPrefix, s.Handler())
	return s, b
}

func TestConformance(t *testing.T) {
	t.Parallel()
	blobtest.Run(t, func(t *testing.T) blobtest.Harness {
		s, b := setup(t)
		return blobtest.Harness{Store: s, Client: b.srv.Client(), MaxObjectBytes: local.DefaultMaxObjectBytes, Advance: b.clock.Advance}
	})
}

// send makes the presigned request with body and returns the response
// with its body read.
func send(t *testing.T, b *bundle, p blob.Presigned, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := blobtest.Request(context.Background(), p, body)
	require.NoError(t, err)
	return do(t, b, req)
}

func do(t *testing.T, b *bundle, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := b.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// requireProblem requires a problem+json answer with status and code.
func requireProblem(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	require.Equal(t, status, resp.StatusCode, "%s", body)
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	var p struct {
		Type, Title, Detail, Code string
		Status                    int
	}
	require.NoError(t, json.Unmarshal(body, &p), "%s", body)
	require.Equal(t, code, p.Code, "%s", body)
	require.Equal(t, status, p.Status)
	require.Equal(t, "https://outrider.dev/problems/"+code, p.Type)
	require.NotEmpty(t, p.Title)
	require.NotEmpty(t, p.Detail)
}

// requireNothingWritten requires key to be absent and no upload to be
// left in flight.
func requireNothingWritten(t *testing.T, s *local.Store, b *bundle, key string) {
	t.Helper()
	_, err := s.Stat(context.Background(), key)
	require.ErrorIs(t, err, blob.ErrNotFound)
	requireNoTemporaryFiles(t, b)
}

func requireNoTemporaryFiles(t *testing.T, b *bundle) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(b.root, "tmp"))
	require.NoError(t, err)
	require.Empty(t, entries)
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, d, 5*time.Millisecond, msg)
}

func TestPresignedUploadAndDownload(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	ctx := context.Background()
	const key = "orders/01J0ABC/proofs/p1.jpg"
	body := blobtest.Fill(200<<10, 9)

	p, err := s.PresignPut(ctx, key, "image/jpeg", int64(len(body)), 5*time.Minute)
	require.NoError(t, err)
	require.Equal(t, t0.Add(5*time.Minute).Unix(), p.ExpiresAt.Unix())
	require.True(t, strings.HasPrefix(p.URL, b.srv.URL+"/v1/blobs/"+key+"?"), p.URL)
	require.Equal(t, map[string]string{"Content-Type": "image/jpeg", "Content-Length": "204800"}, p.Headers)

	resp, out := send(t, b, p, body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", out)
	requireNoTemporaryFiles(t, b)

	obj, err := s.Stat(ctx, key)
	require.NoError(t, err)
	require.Equal(t, blob.Object{Key: key, Size: int64(len(body)), ContentType: "image/jpeg", ModTime: t0}, obj)
	rc, _, err := s.Open(ctx, key)
	require.NoError(t, err)
	got, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.True(t, bytes.Equal(body, got))

	b.clock.Advance(30 * time.Second)
	g, err := s.PresignGet(ctx, key, 2*time.Minute)
	require.NoError(t, err)
	require.Empty(t, g.Headers)
	b.clock.Advance(20 * time.Second)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		g.Method = method
		resp, got := send(t, b, g, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s %s", method, got)
		require.Equal(t, "image/jpeg", resp.Header.Get("Content-Type"))
		require.Equal(t, "204800", resp.Header.Get("Content-Length"))
		require.Equal(t, "private, max-age=100", resp.Header.Get("Cache-Control"))
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		require.Equal(t, t0.Format(http.TimeFormat), resp.Header.Get("Last-Modified"))
		if method == http.MethodGet {
			require.True(t, bytes.Equal(body, got), "GET differs from the upload")
		} else {
			require.Empty(t, got)
		}
	}
}

// withQuery returns raw with query parameter k set to v ("" deletes it).
func withQuery(t *testing.T, raw, k, v string) string {
	t.Helper()
	i := strings.IndexByte(raw, '?')
	q, err := url.ParseQuery(raw[i+1:])
	require.NoError(t, err)
	if v == "" {
		q.Del(k)
	} else {
		q.Set(k, v)
	}
	return raw[:i+1] + q.Encode()
}

func TestPutRefusals(t *testing.T) {
	t.Parallel()
	const (
		key   = "orders/A/proofs/p.jpg"
		other = "orders/B/proofs/p.jpg"
		ttl   = time.Minute
	)
	body := blobtest.Fill(1000, 3)
	exp := fmt.Sprint(t0.Add(ttl).Unix())
	cases := []struct {
		name string
		// edit changes the good request; it may move the clock.
		edit   func(t *testing.T, s *local.Store, b *bundle, p *blob.Presigned) []byte
		status int
		code   string
	}{
		{"wrong content type", func(t *testing.T, s *local.Store, b *bundle, p *blob.Presigned) []byte {
			p.Headers["Content-Type"] = "image/png"
			return body
		}, 403, "forbidden"},
		{"content type with parameters", func(t *testing.T, s *local.Store, b *bundle, p *blob.Presigned) []byte {
			p.Headers["Content-Type"] = "image/jpeg; q=1"
			return body
		}, 403, "forbidden"},
		{"no content type", func(t *testing.T, s *local.Store, b *bundle, p *blob.Presigned) []byte {
			delete(p.Headers, "Content-Type")
			return body
		}, 403, "forbidden"},
		{"shorter length", func(t *testing.T, s *local.Store, b *bundle, p *blob.Presigned) []byte {
			p.Headers["Content-Length"] = "999"
			return body[:999]
		}, 403, "forbidden"},
		{"body longer than signed", func(t *testing.T, s *local.Store, b *bundle, p *blob.Presigned) []byte {
			p.Headers["Content-Length"] = "5000"
			return blobtest.Fill(5000, 3)
		}, 413, "body_too_large"},
		{"tampered signature", func(t *testing.T, s *local.Store, b *bundle, p *blob.Presigned) []byte {
			i := strings.Index(p.URL, "sig=") + 10
			c := byte('A')
			if p.URL[i] == 'A' {
				c = 'B'
			}
			p.URL = p.URL[:i] + string(c) + p.URL[i+1:]
			return body
		}, 403, "forbidden"},
		{"truncated signature", func(t *testing.T, s *local.Store, b *bundle, p *blob.Presigned) []byte {
			p.URL = p.URL[:len(p.URL)-2]
			return body
		}, 403, "forbidden"},
		{"no signature", func(t *testing.T, s *local.Store, b *bundle, p *blob.Presigned) []byte {
			p.URL = withQuery(t, p.URL, "sig", "")
			return body
		}, 403, "forbidden"},
		{"repeated signature", func(t *testing.T, s *local.Store, b *bundle, p *blob.Presigned) []byte {
			i := strings.Index(p.URL, "sig=")
			p.URL += "&" + p.URL[i:]
			return body
		}, 403, "forbidden"},
		{"another order's key", func(t *testing.T, s *local.Store, b *bundle, p *blob.Presigned) []byte {
			p.URL = strings.Replace(p.URL, key, other, 1)
			return body
		}, 403, "forbidden"},
		{"tampered expiry", func(t *testing.T, s *local.Store, b *bundle, p *blob.Presigned) []byte {
			p.URL = withQuery(t, p.URL, "expires", fmt.Sprint(t0.Add(24*time.Hour).Unix()))
			return body
		}, 403, "forbidden"},
		{"expiry with a leading zero", func(t *testing.T, s *local.Store, b *bundle, p *blob.Presigned) []byte {
			p.URL = withQuery(t, p.URL, "expires", "0"+exp)
			return body
		}, 403, "forbidden"},
		{"tampered signed type", func(t *testing.T, s *local.Store, b *bundle, p *blob.Presigned) []byte {
			p.URL = withQuery(t, p.URL, "ct", "text/html")
			p.Headers["Content-Type"] = "text/html"
			return body
		}, 403, "forbidden"},
		{"tampered signed length", func(t *testing.T, s *local.Store, b *bundle, p *blob.Presigned) []byte {
			p.URL = withQuery(t, p.URL, "len", "2000")
			p.Headers["Content-Length"] = "2000"
			return blobtest.Fill(2000, 3)
		}, 403, "forbidden"},
		{"expired", func(t *testing.T, s *local.Store, b *bundle, p *blob.Presigned) []byte {
			b.clock.Advance(ttl + time.Second)
			return body
		}, 403, "forbidden"},
		{"at the expiry instant", func(t *testing.T, s *local.Store, b *bundle, p *blob.Presigned) []byte {
			b.clock.Advance(ttl)
			return body
		}, 403, "forbidden"},
		{"chunked, no Content-Length", func(t *testing.T, s *local.Store, b *bundle, p *blob.Presigned) []byte {
			p.Headers["Content-Length"] = "-1"
			return body
		}, 411, "length_required"},
		{"GET URL used for PUT", func(t *testing.T, s *local.Store, b *bundle, p *blob.Presigned) []byte {
			g, err := s.PresignGet(context.Background(), key, ttl)
			require.NoError(t, err)
			p.URL = g.URL
			return body
		}, 403, "forbidden"},
		{"PUT URL used for DELETE", func(t *testing.T, s *local.Store, b *bundle, p *blob.Presigned) []byte {
			p.Method = http.MethodDelete
			return nil
		}, 405, "method_not_allowed"},
		{"invalid key in the path", func(t *testing.T, s *local.Store, b *bundle, p *blob.Presigned) []byte {
			p.URL = strings.Replace(p.URL, key, "orders/A/.hidden%20x", 1)
			return body
		}, 422, "validation_failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, b := setup(t)
			p, err := s.PresignPut(context.Background(), key, "image/jpeg", int64(len(body)), ttl)
			require.NoError(t, err)
			send := c.edit(t, s, b, &p)
			req, err := blobtest.Request(context.Background(), p, send)
			require.NoError(t, err)
			if p.Headers["Content-Length"] == "-1" {
				req.ContentLength = -1 // unknown: the client sends chunked
				req.Body = io.NopCloser(bytes.NewReader(send))
			}
			resp, out := do(t, b, req)
			requireProblem(t, resp, out, c.status, c.code)
			requireNothingWritten(t, s, b, key)
			requireNothingWritten(t, s, b, other)
		})
	}
}

func TestPutURLReusedAfterExpiry(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	const key = "orders/A/proofs/p.png"
	first := blobtest.Fill(100, 1)
	p, err := s.PresignPut(context.Background(), key, "image/png", 100, time.Minute)
	require.NoError(t, err)
	resp, out := send(t, b, p, first)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", out)

	// Within its lifetime the URL may be used again (as in S3).
	b.clock.Advance(59 * time.Second)
	second := blobtest.Fill(100, 2)
	resp, out = send(t, b, p, second)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", out)

	b.clock.Advance(time.Second)
	resp, out = send(t, b, p, blobtest.Fill(100, 3))
	requireProblem(t, resp, out, http.StatusForbidden, "forbidden")
	require.Contains(t, string(out), "expired")
	rc, obj, err := s.Open(context.Background(), key)
	require.NoError(t, err)
	defer rc.Close()
	got, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.Equal(t, second, got, "the refused upload changed the object")
	require.Equal(t, t0.Add(59*time.Second), obj.ModTime)
	requireNoTemporaryFiles(t, b)
}

func TestGetRefusals(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, "orders/A/p.jpg", "image/jpeg", strings.NewReader("jpeg"), 4))
	g, err := s.PresignGet(ctx, "orders/A/p.jpg", time.Minute)
	require.NoError(t, err)
	put, err := s.PresignPut(ctx, "orders/A/p.jpg", "image/jpeg", 4, time.Minute)
	require.NoError(t, err)
	missing, err := s.PresignGet(ctx, "orders/A/none.jpg", time.Minute)
	require.NoError(t, err)

	cases := []struct {
		name   string
		method string
		url    string
		status int
		code   string
	}{
		{"missing object", http.MethodGet, missing.URL, 404, "not_found"},
		{"another key", http.MethodGet, strings.Replace(g.URL, "orders/A/p.jpg", "orders/B/p.jpg", 1), 403, "forbidden"},
		{"PUT URL used for GET", http.MethodGet, put.URL, 403, "forbidden"},
		{"tampered expiry", http.MethodGet, withQuery(t, g.URL, "expires", fmt.Sprint(t0.Add(time.Hour).Unix())), 403, "forbidden"},
		{"POST", http.MethodPost, g.URL, 405, "method_not_allowed"},
		{"OPTIONS", http.MethodOptions, g.URL, 405, "method_not_allowed"},
	}
	for _, c := range cases {
		req, err := http.NewRequest(c.method, c.url, nil)
		require.NoError(t, err)
		resp, out := do(t, b, req)
		requireProblem(t, resp, out, c.status, c.code)
		if c.status == 405 {
			require.Equal(t, "GET, HEAD, PUT", resp.Header.Get("Allow"))
		}
	}

	b.clock.Advance(time.Minute)
	resp, out := send(t, b, g, nil)
	requireProblem(t, resp, out, http.StatusForbidden, "forbidden")
	g.Method = http.MethodHead
	resp, out = send(t, b, g, nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Empty(t, out)
}
