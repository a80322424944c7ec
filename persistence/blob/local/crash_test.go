package local_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence/blob"
	"github.com/outrider/outrider/persistence/blob/blobtest"
	"github.com/outrider/outrider/persistence/blob/local"
)

// An upload whose client goes away mid-body leaves no object, and leaves
// the previous version of the key untouched.
func TestAbortedUploadLeavesNoObject(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	ctx := context.Background()
	const fresh, existing = "orders/A/new.jpg", "orders/A/old.jpg"
	old := blobtest.Fill(100, 1)
	require.NoError(t, s.Put(ctx, existing, "image/jpeg", bytes.NewReader(old), 100))

	for _, key := range []string{fresh, existing} {
		const size = 1 << 20
		p, err := s.PresignPut(ctx, key, "image/jpeg", size, time.Minute)
		require.NoError(t, err)
		u, err := url.Parse(p.URL)
		require.NoError(t, err)

		conn, err := net.Dial("tcp", b.srv.Listener.Addr().String())
		require.NoError(t, err)
		_, err = fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n",
			u.RequestURI(), u.Host, size)
		require.NoError(t, err)
		_, err = conn.Write(blobtest.Fill(size/2, 2))
		require.NoError(t, err)
		// The handler is writing the upload to a temporary file...
		eventually(t, 5*time.Second, func() bool { return countTemporaryFiles(t, b) == 1 }, "upload in flight")
		// ...when the client dies.
		require.NoError(t, conn.Close())
		eventually(t, 5*time.Second, func() bool { return countTemporaryFiles(t, b) == 0 }, "temporary file removed")
	}
	_, err := s.Stat(ctx, fresh)
	require.ErrorIs(t, err, blob.ErrNotFound)
	rc, obj, err := s.Open(ctx, existing)
	require.NoError(t, err)
	defer rc.Close()
	got, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.Equal(t, old, got)
	require.Equal(t, int64(100), obj.Size)
}

func countTemporaryFiles(t *testing.T, b *bundle) int {
	entries, err := os.ReadDir(filepath.Join(b.root, "tmp"))
	require.NoError(t, err)
	return len(entries)
}

// A process that dies mid-write leaves at most a temporary file, which
// is never visible as an object and which the next New removes; objects
// that were written survive the restart.
func TestRestartAfterCrash(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	ctx := context.Background()
	data := blobtest.Fill(5000, 4)
	require.NoError(t, s.Put(ctx, "orders/A/kept.png", "image/png", bytes.NewReader(data), 5000))

	// What a crash mid-upload leaves behind.
	partial := filepath.Join(b.root, "tmp", "put-123456")
	require.NoError(t, os.WriteFile(partial, data[:100], 0o600))
	_, err := s.Stat(ctx, "orders/A/partial.png")
	require.ErrorIs(t, err, blob.ErrNotFound)

	s2, err := local.New(b.root, b.srv.URL, secret, local.Options{Clock: b.clock.Now})
	require.NoError(t, err)
	requireNoTemporaryFiles(t, b)
	rc, obj, err := s2.Open(ctx, "orders/A/kept.png")
	require.NoError(t, err)
	defer rc.Close()
	got, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.Equal(t, data, got)
	require.Equal(t, blob.Object{Key: "orders/A/kept.png", Size: 5000, ContentType: "image/png", ModTime: t0}, obj)

	// URLs signed before the restart still work after it (same secret).
	p, err := s.PresignPut(ctx, "orders/A/after.png", "image/png", 10, time.Minute)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle(local.PathPrefix, s2.Handler())
	rec := httptest.NewRecorder()
	req, err := blobtest.Request(ctx, p, data[:10])
	require.NoError(t, err)
	mux.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	_, err = s.Stat(ctx, "orders/A/after.png")
	require.NoError(t, err)
}

// A damaged object file is an error, never a short or wrong object.
func TestCorruptObjectFile(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, "k", "image/png", bytes.NewReader(blobtest.Fill(1000, 5)), 1000))
	var file string
	require.NoError(t, filepath.WalkDir(filepath.Join(b.root, "objects"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			file = p
		}
		return err
	}))
	require.NotEmpty(t, file)
	require.NoError(t, os.Truncate(file, 500))
	_, err := s.Stat(ctx, "k")
	require.Error(t, err)
	require.NotErrorIs(t, err, blob.ErrNotFound)
	_, _, err = s.Open(ctx, "k")
	require.ErrorContains(t, err, "corrupt")
}

func TestConcurrentUploads(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	ctx := context.Background()
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			key := fmt.Sprintf("orders/%d/proof.jpg", i)
			body := blobtest.Fill(10_000+i, byte(i))
			p, err := s.PresignPut(ctx, key, "image/jpeg", int64(len(body)), time.Minute)
			if err != nil {
				errs <- err
				return
			}
			req, err := blobtest.Request(ctx, p, body)
			if err != nil {
				errs <- err
				return
			}
			resp, err := b.srv.Client().Do(req)
			if err != nil {
				errs <- err
				return
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs <- fmt.Errorf("%s: %s", key, resp.Status)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for i := range n {
		key := fmt.Sprintf("orders/%d/proof.jpg", i)
		rc, obj, err := s.Open(ctx, key)
		require.NoError(t, err)
		got, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		require.Equal(t, blobtest.Fill(10_000+i, byte(i)), got, key)
		require.Equal(t, int64(10_000+i), obj.Size)
	}
	requireNoTemporaryFiles(t, b)
}

// Writers racing on one key never show a reader a mix of versions.
func TestConcurrentOverwritesAreAtomic(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	versions := [][]byte{blobtest.Fill(64<<10, 1), blobtest.Fill(32<<10, 2), blobtest.Fill(16<<10, 3)}
	types := []string{"image/jpeg", "image/png", "image/webp"}
	require.NoError(t, s.Put(ctx, "k", types[0], bytes.NewReader(versions[0]), int64(len(versions[0]))))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 3 {
		wg.Go(func() {
			for i := 0; i < 30; i++ {
				v := (w + i) % len(versions)
				if err := s.Put(ctx, "k", types[v], bytes.NewReader(versions[v]), int64(len(versions[v]))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var reads sync.WaitGroup
	reads.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			rc, obj, err := s.Open(ctx, "k")
			if err != nil {
				t.Error(err)
				return
			}
			got, err := io.ReadAll(rc)
			_ = rc.Close()
			if err != nil {
				t.Error(err)
				return
			}
			ok := false
			for v := range versions {
				ok = ok || bytes.Equal(got, versions[v]) && obj.ContentType == types[v]
			}
			if !ok {
				t.Errorf("read a torn object: %d bytes of %s", len(got), obj.ContentType)
				return
			}
		}
	})
	wg.Wait()
	close(stop)
	reads.Wait()
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		name    string
		root    string
		base    string
		secret  []byte
		opts    local.Options
		wantErr string
	}{
		{"empty root", "", "http://localhost:8080", secret, local.Options{}, "empty root"},
		{"short secret", dir, "http://localhost:8080", secret[:31], local.Options{}, "secret"},
		{"no scheme", dir, "localhost:8080", secret, local.Options{}, "base URL"},
		{"ftp", dir, "ftp://localhost", secret, local.Options{}, "base URL"},
		{"query", dir, "http://localhost:8080?x=1", secret, local.Options{}, "base URL"},
		{"credentials", dir, "http://u:p@localhost:8080", secret, local.Options{}, "base URL"},
		{"negative limit", dir, "http://localhost:8080", secret, local.Options{MaxObjectBytes: -1}, "MaxObjectBytes"},
	}
	for _, c := range cases {
		_, err := local.New(c.root, c.base, c.secret, c.opts)
		require.ErrorContains(t, err, c.wantErr, c.name)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := local.New(t.TempDir(), "https://outrider.example/", secret, local.Options{MaxObjectBytes: 100})
	require.NoError(t, err)
	p, err := s.PresignPut(ctx, "a/b.png", "image/png", 100, time.Minute)
	require.NoError(t, err)
	require.Regexp(t, `^https://outrider\.example/v1/blobs/a/b\.png\?ct=image%2Fpng&expires=\d+&len=100&sig=[A-Za-z0-9_-]{43}$`, p.URL)
	require.WithinDuration(t, time.Now().Add(time.Minute), p.ExpiresAt, 2*time.Second)
	_, err = s.PresignPut(ctx, "a/b.png", "image/png", 101, time.Minute)
	require.ErrorIs(t, err, blob.ErrTooLarge)
	require.ErrorIs(t, s.Put(ctx, "a/b.png", "image/png", bytes.NewReader(make([]byte, 101)), 101), blob.ErrTooLarge)
}
