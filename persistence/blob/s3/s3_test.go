package s3_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/outrider/outrider/persistence/blob"
	"github.com/outrider/outrider/persistence/blob/blobtest"
	"github.com/outrider/outrider/persistence/blob/s3"
	"github.com/outrider/outrider/persistence/blob/s3/s3test"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type bundle struct {
	cfg s3.Config
	// client makes presigned requests, as a phone would: it shares
	// nothing with the store.
	client *http.Client
}

// setup builds a store on a fresh bucket of the test server.
func setup(t *testing.T) (*s3.Store, *bundle) {
	t.Helper()
	cfg := s3test.Start(t)
	s, err := s3.New(context.Background(), cfg)
	require.NoError(t, err)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return s, &bundle{cfg: cfg, client: &http.Client{Transport: tr}}
}

// wait lets real time pass: the server's clock decides expiry, and no
// test can move it.
func wait(d time.Duration) { <-time.After(d) }

// waitExpired waits until the server must consider p expired: one second
// past ExpiresAt, for X-Amz-Date's whole seconds and a remote server's
// clock skew.
func waitExpired(p blob.Presigned) { wait(time.Until(p.ExpiresAt) + time.Second) }

func TestConformance(t *testing.T) {
	t.Parallel()
	blobtest.Run(t, func(t *testing.T) blobtest.Harness {
		s, b := setup(t)
		return blobtest.Harness{Store: s, Client: b.client, MaxObjectBytes: s3.DefaultMaxObjectBytes, Advance: wait}
	})
}

// s3Error is the body of an S3 error answer.
type s3Error struct {
	Code    string
	Message string
}

// send makes the presigned request with body and returns the status and
// the S3 error code ("" for a success or a bodiless answer).
func send(t *testing.T, b *bundle, p blob.Presigned, body []byte) (int, string, []byte) {
	t.Helper()
	req, err := blobtest.Request(context.Background(), p, body)
	require.NoError(t, err)
	if p.Headers["Content-Length"] == "-1" {
		req.ContentLength = -1 // unknown: the client sends chunked
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	return do(t, b, req)
}

func do(t *testing.T, b *bundle, req *http.Request) (int, string, []byte) {
	t.Helper()
	resp, err := b.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var e s3Error
	if resp.StatusCode/100 != 2 && len(out) > 0 {
		require.NoError(t, xml.Unmarshal(out, &e), "%s", out)
	}
	return resp.StatusCode, e.Code, out
}

func requireMissing(t *testing.T, s *s3.Store, keys ...string) {
	t.Helper()
	for _, key := range keys {
		_, err := s.Stat(context.Background(), key)
		require.ErrorIs(t, err, blob.ErrNotFound, key)
	}
}

func requireObject(t *testing.T, s *s3.Store, key, contentType string, want []byte) {
	t.Helper()
	rc, obj, err := s.Open(context.Background(), key)
	require.NoError(t, err)
	defer rc.Close()
	got, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.Equal(t, contentType, obj.ContentType)
	require.Equal(t, int64(len(want)), obj.Size)
	require.True(t, bytes.Equal(want, got), "object %s differs", key)
}

// withQuery returns raw with query parameter k set to v.
func withQuery(t *testing.T, raw, k, v string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestPresignPut(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	ctx := context.Background()
	const key = "orders/01J0ABC/proofs/p1.jpg"
	body := blobtest.Fill(200<<10, 9)

	before := time.Now()
	p, err := s.PresignPut(ctx, key, "image/jpeg", int64(len(body)), 5*time.Minute)
	require.NoError(t, err)
	require.Equal(t, http.MethodPut, p.Method)
	require.Equal(t, map[string]string{"Content-Type": "image/jpeg", "Content-Length": "204800"}, p.Headers)
	require.WithinRange(t, p.ExpiresAt, before.Add(5*time.Minute).Truncate(time.Second), time.Now().Add(5*time.Minute))
	u, err := url.Parse(p.URL)
	require.NoError(t, err)
	require.Equal(t, b.cfg.Endpoint, u.Host)
	require.Equal(t, "/"+b.cfg.Bucket+"/"+s3.ObjectName(key), u.Path)
	require.Equal(t, "content-length;content-type;host", u.Query().Get("X-Amz-SignedHeaders"))
	require.Equal(t, "300", u.Query().Get("X-Amz-Expires"))

	status, code, out := send(t, b, p, body)
	require.Equal(t, http.StatusOK, status, "%s %s", code, out)
	requireObject(t, s, key, "image/jpeg", body)

	// Until it expires the URL may be used again; the object is replaced.
	second := blobtest.Fill(200<<10, 10)
	status, code, out = send(t, b, p, second)
	require.Equal(t, http.StatusOK, status, "%s %s", code, out)
	requireObject(t, s, key, "image/jpeg", second)
}

func TestPresignPutRefusals(t *testing.T) {
	t.Parallel()
	const (
		key   = "orders/A/proofs/p.jpg"
		other = "orders/B/proofs/p.jpg"
	)
	body := blobtest.Fill(1000, 3)
	cases := []struct {
		name string
		ttl  time.Duration
		// edit changes the good request and returns the body to send.
		edit   func(t *testing.T, s *s3.Store, p *blob.Presigned) []byte
		status int
		code   string
	}{
		{"wrong content type", time.Minute, func(t *testing.T, s *s3.Store, p *blob.Presigned) []byte {
			p.Headers["Content-Type"] = "image/png"
			return body
		}, 403, "SignatureDoesNotMatch"},
		{"content type with parameters", time.Minute, func(t *testing.T, s *s3.Store, p *blob.Presigned) []byte {
			p.Headers["Content-Type"] = "image/jpeg; q=1"
			return body
		}, 403, "SignatureDoesNotMatch"},
		{"no content type", time.Minute, func(t *testing.T, s *s3.Store, p *blob.Presigned) []byte {
			delete(p.Headers, "Content-Type")
			return body
		}, 403, "SignatureDoesNotMatch"},
		{"larger body", time.Minute, func(t *testing.T, s *s3.Store, p *blob.Presigned) []byte {
			p.Headers["Content-Length"] = "5000"
			return blobtest.Fill(5000, 3)
		}, 403, "SignatureDoesNotMatch"},
		{"shorter body", time.Minute, func(t *testing.T, s *s3.Store, p *blob.Presigned) []byte {
			p.Headers["Content-Length"] = "999"
			return body[:999]
		}, 403, "SignatureDoesNotMatch"},
		{"chunked, no Content-Length", time.Minute, func(t *testing.T, s *s3.Store, p *blob.Presigned) []byte {
			p.Headers["Content-Length"] = "-1"
			return body
		}, 403, "SignatureDoesNotMatch"},
		{"tampered signature", time.Minute, func(t *testing.T, s *s3.Store, p *blob.Presigned) []byte {
			u, err := url.Parse(p.URL)
			require.NoError(t, err)
			sig := []byte(u.Query().Get("X-Amz-Signature"))
			sig[10] ^= 1 // a hex digit becomes another character
			p.URL = withQuery(t, p.URL, "X-Amz-Signature", string(sig))
			return body
		}, 403, "SignatureDoesNotMatch"},
		{"tampered expiry", time.Minute, func(t *testing.T, s *s3.Store, p *blob.Presigned) []byte {
			p.URL = withQuery(t, p.URL, "X-Amz-Expires", "86400")
			return body
		}, 403, "SignatureDoesNotMatch"},
		{"another key", time.Minute, func(t *testing.T, s *s3.Store, p *blob.Presigned) []byte {
			p.URL = strings.Replace(p.URL, key, other, 1)
			return body
		}, 403, "SignatureDoesNotMatch"},
		{"GET URL used for PUT", time.Minute, func(t *testing.T, s *s3.Store, p *blob.Presigned) []byte {
			g, err := s.PresignGet(context.Background(), key, time.Minute)
			require.NoError(t, err)
			p.URL = g.URL
			return body
		}, 403, "SignatureDoesNotMatch"},
		{"PUT URL used for DELETE", time.Minute, func(t *testing.T, s *s3.Store, p *blob.Presigned) []byte {
			p.Method = http.MethodDelete
			p.Headers = map[string]string{}
			return nil
		}, 403, "SignatureDoesNotMatch"},
		{"expired", blob.MinTTL, func(t *testing.T, s *s3.Store, p *blob.Presigned) []byte {
			waitExpired(*p)
			return body
		}, 403, "AccessDenied"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, b := setup(t)
			p, err := s.PresignPut(context.Background(), key, "image/jpeg", int64(len(body)), c.ttl)
			require.NoError(t, err)
			status, code, out := send(t, b, p, c.edit(t, s, &p))
			require.Equal(t, c.status, status, "%s", out)
			require.Equal(t, c.code, code, "%s", out)
			requireMissing(t, s, key, other)
		})
	}
}

func TestPresignGet(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	ctx := context.Background()
	const key = "orders/A/p.jpg"
	body := blobtest.Fill(3000, 4)
	require.NoError(t, s.Put(ctx, key, "image/jpeg", bytes.NewReader(body), int64(len(body))))

	g, err := s.PresignGet(ctx, key, time.Minute)
	require.NoError(t, err)
	require.Equal(t, http.MethodGet, g.Method)
	require.Empty(t, g.Headers)
	status, code, got := send(t, b, g, nil)
	require.Equal(t, http.StatusOK, status, code)
	require.Equal(t, body, got)

	short, err := s.PresignGet(ctx, key, blob.MinTTL)
	require.NoError(t, err)
	put, err := s.PresignPut(ctx, key, "image/jpeg", int64(len(body)), time.Minute)
	require.NoError(t, err)
	missing, err := s.PresignGet(ctx, "orders/A/none.jpg", time.Minute)
	require.NoError(t, err)
	sig := []byte(g.URL)
	i := strings.Index(g.URL, "X-Amz-Signature=") + len("X-Amz-Signature=") + 10
	sig[i] ^= 1

	cases := []struct {
		name   string
		method string
		url    string
		status int
		code   string // "" for HEAD, which has no body
	}{
		{"missing object", http.MethodGet, missing.URL, 404, "NoSuchKey"},
		{"tampered signature", http.MethodGet, string(sig), 403, "SignatureDoesNotMatch"},
		{"another key", http.MethodGet, strings.Replace(g.URL, "orders/A/p.jpg", "orders/B/p.jpg", 1), 403, "SignatureDoesNotMatch"},
		{"tampered expiry", http.MethodGet, withQuery(t, g.URL, "X-Amz-Expires", "3600"), 403, "SignatureDoesNotMatch"},
		{"PUT URL used for GET", http.MethodGet, put.URL, 403, "SignatureDoesNotMatch"},
		{"HEAD with a GET URL", http.MethodHead, g.URL, 403, ""},
		{"DELETE with a GET URL", http.MethodDelete, g.URL, 403, "SignatureDoesNotMatch"},
	}
	for _, c := range cases {
		req, err := http.NewRequest(c.method, c.url, nil)
		require.NoError(t, err)
		status, code, out := do(t, b, req)
		require.Equal(t, c.status, status, "%s: %s", c.name, out)
		require.Equal(t, c.code, code, "%s: %s", c.name, out)
	}
	requireObject(t, s, key, "image/jpeg", body) // DELETE did nothing

	waitExpired(short)
	status, code, out := send(t, b, short, nil)
	require.Equal(t, http.StatusForbidden, status, "%s", out)
	require.Equal(t, "AccessDenied", code, "%s", out)
}

// TestPutNewKeyRefusals complements blobtest's PutRefusals (which
// overwrites): a failed Put of a new key leaves no object at all.
func TestPutNewKeyRefusals(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	cases := []struct {
		name string
		r    io.Reader
		size int64
		want error
	}{
		{"shorter", bytes.NewReader(blobtest.Fill(99, 1)), 100, blob.ErrSizeMismatch},
		{"longer", bytes.NewReader(blobtest.Fill(101, 1)), 100, blob.ErrSizeMismatch},
		{"longer than an empty size", bytes.NewReader(blobtest.Fill(1, 1)), 0, blob.ErrSizeMismatch},
		{"longer by one byte past a chunk", bytes.NewReader(blobtest.Fill(64<<10+1, 1)), 64 << 10, blob.ErrSizeMismatch},
		{"failing reader", iotest.ErrReader(io.ErrClosedPipe), 100, io.ErrClosedPipe},
		{"one byte at a time, then too many", iotest.OneByteReader(bytes.NewReader(blobtest.Fill(11, 1))), 10, blob.ErrSizeMismatch},
	}
	for _, c := range cases {
		err := s.Put(ctx, "orders/N/new.jpg", "image/jpeg", c.r, c.size)
		require.ErrorIs(t, err, c.want, c.name)
		requireMissing(t, s, "orders/N/new.jpg")
	}
	// One byte at a time, exactly the size: fine.
	require.NoError(t, s.Put(ctx, "orders/N/new.jpg", "image/jpeg", iotest.OneByteReader(bytes.NewReader(blobtest.Fill(10, 1))), 10))
	requireObject(t, s, "orders/N/new.jpg", "image/jpeg", blobtest.Fill(10, 1))
}

// TestObjectNames shows what the bucket holds: the key plus "!", so that
// "a" and "a/b" can coexist on file-backed servers.
func TestObjectNames(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	ctx := context.Background()
	for _, key := range []string{"a", "a/b", "a/b/c.jpg"} {
		require.NoError(t, s.Put(ctx, key, "text/plain", strings.NewReader(key), int64(len(key))))
	}
	c := adminClient(t, b.cfg)
	var names []string
	for obj := range c.ListObjects(ctx, b.cfg.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		require.NoError(t, obj.Err)
		names = append(names, obj.Key)
	}
	require.ElementsMatch(t, []string{"a!", "a/b!", "a/b/c.jpg!"}, names)
	for _, key := range []string{"a", "a/b", "a/b/c.jpg"} {
		requireObject(t, s, key, "text/plain", []byte(key))
	}
	require.NoError(t, s.Delete(ctx, "a/b"))
	requireMissing(t, s, "a/b")
	requireObject(t, s, "a/b/c.jpg", "text/plain", []byte("a/b/c.jpg"))
}

// adminClient talks to cfg's server directly, bypassing the store.
func adminClient(t *testing.T, cfg s3.Config) *minio.Client {
	t.Helper()
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.UseSSL,
		Region:    cfg.Region,
		Transport: cfg.Transport,
	})
	require.NoError(t, err)
	return c
}

func TestNew(t *testing.T) {
	t.Parallel()
	cfg := s3test.Start(t)
	ctx := context.Background()
	cases := []struct {
		name string
		edit func(c *s3.Config)
		want string // substring of the error
	}{
		{"endpoint with scheme", func(c *s3.Config) { c.Endpoint = "http://" + c.Endpoint }, "want host[:port]"},
		{"no bucket", func(c *s3.Config) { c.Bucket = "" }, "empty bucket"},
		{"no secret", func(c *s3.Config) { c.SecretKey = "" }, "secret key"},
		{"negative limit", func(c *s3.Config) { c.MaxObjectBytes = -1 }, "MaxObjectBytes"},
		{"limit above a single PUT", func(c *s3.Config) { c.MaxObjectBytes = 5<<30 + 1 }, "MaxObjectBytes"},
		{"missing bucket", func(c *s3.Config) { c.Bucket += "-none" }, "does not exist"},
		{"wrong secret", func(c *s3.Config) { c.SecretKey += "x" }, "check bucket"},
	}
	for _, c := range cases {
		bad := cfg
		c.edit(&bad)
		_, err := s3.New(ctx, bad)
		require.ErrorContains(t, err, c.want, c.name)
	}

	// CreateBucket creates a missing bucket, and accepts an existing one.
	created := cfg
	created.Bucket += "-created"
	created.CreateBucket = true
	_, err := s3.New(ctx, created)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, adminClient(t, cfg).RemoveBucket(context.Background(), created.Bucket)) })
	_, err = s3.New(ctx, created)
	require.NoError(t, err)

	// A custom limit is the one enforced.
	small := cfg
	small.MaxObjectBytes = 100
	s, err := s3.New(ctx, small)
	require.NoError(t, err)
	_, err = s.PresignPut(ctx, "k", "image/png", 101, time.Minute)
	require.ErrorIs(t, err, blob.ErrTooLarge)
	require.ErrorIs(t, s.Put(ctx, "k", "image/png", bytes.NewReader(nil), 101), blob.ErrTooLarge)
	_, err = s.PresignPut(ctx, "k", "image/png", -1, time.Minute)
	require.ErrorIs(t, err, blob.ErrTooLarge)
}
