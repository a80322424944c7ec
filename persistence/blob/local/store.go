// Package local is a blob.Store on the node's own disk, for outrider dev
// and single-machine sites: clients get the same presigned flow as with
// S3, but the signed URLs point at the node, whose Handler (mounted at
// PathPrefix) checks them and moves the bytes.
//
// Start with New and Handler; sign.go holds the URL format, handler.go
// the HTTP side.
//
// # On disk
//
//	<root>/objects/<h[0:2]>/<h>   one file per object, h = hex SHA-256 of the key
//	<root>/tmp/                    uploads in flight; emptied by New
//
// An object file is a small header (magic, length, JSON with key, content
// type, size and write time) followed by the bytes. Keeping metadata in
// the same file rather than a sidecar means one rename publishes data
// and metadata together: there is no moment, and no crash, in which a
// reader can see new bytes with an old content type. Naming files by the
// key's hash keeps keys out of file paths altogether (no traversal, no
// name-length limit, no clash between key "a" and key "a/b").
//
// Writes go to a temporary file in <root>/tmp, are fsynced, renamed over
// the object's path and the directory is fsynced: a crash leaves either
// the old object or the new one, and at worst a stray temporary file that
// the next New removes.
//
// # Concurrency
//
// A Store has no mutable state after New; all coordination is the file
// system's atomic rename, so any number of goroutines may use it. One
// Store (one process) owns a root: New clears <root>/tmp, which would
// break another process's uploads in flight.
package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/outrider/outrider/persistence/blob"
)

// DefaultMaxObjectBytes is the default Options.MaxObjectBytes: 10 MiB.
const DefaultMaxObjectBytes = 10 << 20

// MinSecretBytes is the shortest signing secret New accepts: HMAC-SHA256
// is only as strong as its key, and 32 bytes is its full strength.
const MinSecretBytes = 32

// Options tunes a Store. The zero value is usable.
type Options struct {
	// MaxObjectBytes is the largest object PresignPut and Put accept.
	// Default 10 MiB: a phone photo of a parcel is 2 to 5 MB, and the
	// limit bounds what one signed URL can make the node write to its
	// disk (issue 5 caps uploads at 10 MiB for the same reason).
	MaxObjectBytes int64
	// Clock is the time source for expiry and ModTime. Default time.Now;
	// tests move it to expire URLs without waiting.
	Clock func() time.Time
	// Logger receives internal errors of the HTTP handler (disk failures,
	// never client mistakes). Default: discard.
	Logger *slog.Logger
}

// Store is a blob.Store on local disk. Create it with New.
type Store struct {
	objects string // <root>/objects
	tmp     string // <root>/tmp
	baseURL string // public URL of the node, no trailing slash
	secret  []byte
	max     int64
	now     func() time.Time
	log     *slog.Logger
}

var _ blob.Store = (*Store)(nil)

// New opens (creating if needed) a store under root. baseURL is the
// node's public URL prefix as clients reach it, e.g.
// "http://localhost:8080"; signed URLs are baseURL + PathPrefix + key.
// secret signs and verifies URLs: at least MinSecretBytes, dedicated to
// this use, and the same on every start so outstanding URLs stay valid.
// New removes temporary files left by a previous process.
func New(root, baseURL string, secret []byte, opts Options) (*Store, error) {
	if root == "" {
		return nil, errors.New("local blob store: empty root")
	}
	base, err := parseBaseURL(baseURL)
	if err != nil {
		return nil, fmt.Errorf("local blob store: %w", err)
	}
	if len(secret) < MinSecretBytes {
		return nil, fmt.Errorf("local blob store: secret is %d bytes, want at least %d", len(secret), MinSecretBytes)
	}
	if opts.MaxObjectBytes < 0 {
		return nil, fmt.Errorf("local blob store: negative MaxObjectBytes %d", opts.MaxObjectBytes)
	}
	if opts.MaxObjectBytes == 0 {
		opts.MaxObjectBytes = DefaultMaxObjectBytes
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		objects: filepath.Join(root, "objects"),
		tmp:     filepath.Join(root, "tmp"),
		baseURL: base,
		secret:  bytes.Clone(secret),
		max:     opts.MaxObjectBytes,
		now:     opts.Clock,
		log:     opts.Logger,
	}
	for _, dir := range []string{s.objects, s.tmp} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("local blob store: %w", err)
		}
	}
	if err := clearDir(s.tmp); err != nil {
		return nil, fmt.Errorf("local blob store: clear temporary files: %w", err)
	}
	return s, nil
}

func parseBaseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("base URL %q: want http(s)://host[:port][/path]", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Object, error) {
	f, obj, err := s.open(key)
	if err != nil {
		return blob.Object{}, err
	}
	_ = f.Close()
	return obj.Object, nil
}

// Open implements blob.Store. The reader holds the version that was
// current when Open returned: a later overwrite or Delete replaces the
// directory entry, not the open file.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, blob.Object, error) {
	f, obj, err := s.open(key)
	if err != nil {
		return nil, blob.Object{}, err
	}
	return &objectReader{io.NewSectionReader(f, obj.offset, obj.Size), f}, obj.Object, nil
}

type objectReader struct {
	*io.SectionReader
	f *os.File
}

func (r *objectReader) Close() error { return r.f.Close() }

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, key, contentType string, r io.Reader, size int64) error {
	if err := s.checkPut(key, contentType, size); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := s.write(ctx, key, contentType, r, size); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// Copy writes a copy of src under dst, atomically like Put.
func (s *Store) Copy(ctx context.Context, src, dst string) error {
	if err := blob.ValidateKey(dst); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	rc, obj, err := s.Open(ctx, src)
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	defer rc.Close()
	if err := s.write(ctx, dst, obj.ContentType, rc, obj.Size); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}

// checkPut validates what PresignPut and Put share.
func (s *Store) checkPut(key, contentType string, size int64) error {
	if err := blob.ValidateKey(key); err != nil {
		return err
	}
	if err := blob.ValidateContentType(contentType); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("%w: negative size %d", blob.ErrSizeMismatch, size)
	}
	if size > s.max {
		return fmt.Errorf("%w: %d bytes, limit %d", blob.ErrTooLarge, size, s.max)
	}
	return nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := blob.ValidateKey(key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	p := s.path(key)
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// path is where the object under key lives.
func (s *Store) path(key string) string {
	sum := sha256.Sum256([]byte(key))
	h := hex.EncodeToString(sum[:])
	return filepath.Join(s.objects, h[:2], h)
}

// Errors of write, beside the reader's own.
var (
	errBodyLong  = fmt.Errorf("%w: more bytes than announced", blob.ErrSizeMismatch)
	errBodyShort = fmt.Errorf("%w: fewer bytes than announced", blob.ErrSizeMismatch)
)

// write stores exactly size bytes of r under key, atomically: temporary
// file, fsync, rename, fsync of the directory. It reads at most size+1
// bytes; on any failure the temporary file is removed and the previous
// object, if any, is untouched.
func (s *Store) write(ctx context.Context, key, contentType string, r io.Reader, size int64) (err error) {
	f, err := os.CreateTemp(s.tmp, "put-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	hdr, err := encodeHeader(header{Key: key, ContentType: contentType, Size: size, ModTime: s.now().UTC()})
	if err != nil {
		return err
	}
	if _, err := f.Write(hdr); err != nil {
		return err
	}
	body := &bodyReader{ctx: ctx, r: r}
	n, err := io.Copy(f, io.LimitReader(body, size+1))
	switch {
	case body.err != nil:
		return &readError{n, size, body.err}
	case err != nil:
		return err
	case n > size:
		return errBodyLong
	case n < size:
		return fmt.Errorf("%w: got %d of %d", errBodyShort, n, size)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	dst := s.path(key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dst))
}

// bodyReader fails reads once ctx is done, so a cancelled Put stops, and
// remembers a read error so write can tell it from a disk error.
type bodyReader struct {
	ctx context.Context
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		b.err = err
		return 0, err
	}
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// readError is a failure of the reader given to write: the caller's
// reader in Put, the client's connection in the handler.
type readError struct {
	n, size int64
	err     error
}

func (e *readError) Error() string {
	return fmt.Sprintf("read body after %d of %d bytes: %v", e.n, e.size, e.err)
}

func (e *readError) Unwrap() error { return e.err }

// syncDir makes a rename or remove in dir durable. Windows cannot fsync a
// directory (and does not need to).
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// The object file format: magic, uint32 big-endian header length, JSON
// header, bytes.
const (
	magic          = "ORBLOB1\n"
	prefixLen      = len(magic) + 4
	maxHeaderBytes = 4 << 10
)

type header struct {
	Key         string    `json:"key"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	ModTime     time.Time `json:"mod_time"`
}

func encodeHeader(h header) ([]byte, error) {
	js, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	if len(js) > maxHeaderBytes {
		return nil, fmt.Errorf("object header of %d bytes", len(js))
	}
	b := make([]byte, prefixLen, prefixLen+len(js))
	copy(b, magic)
	binary.BigEndian.PutUint32(b[len(magic):], uint32(len(js)))
	return append(b, js...), nil
}

// storedObject is an Object and where its bytes start in the file.
type storedObject struct {
	blob.Object
	offset int64
}

// open opens the object file of key and reads its header. The caller
// closes the file.
func (s *Store) open(key string) (*os.File, storedObject, error) {
	if err := blob.ValidateKey(key); err != nil {
		return nil, storedObject{}, fmt.Errorf("open %s: %w", key, err)
	}
	f, err := os.Open(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, storedObject{}, fmt.Errorf("open %s: %w", key, blob.ErrNotFound)
	}
	if err != nil {
		return nil, storedObject{}, fmt.Errorf("open %s: %w", key, err)
	}
	obj, err := readHeader(f, key)
	if err != nil {
		_ = f.Close()
		return nil, storedObject{}, fmt.Errorf("open %s: %w", key, err)
	}
	return f, obj, nil
}

func readHeader(f *os.File, key string) (storedObject, error) {
	var prefix [prefixLen]byte
	if _, err := io.ReadFull(f, prefix[:]); err != nil {
		return storedObject{}, fmt.Errorf("corrupt object file %s: %w", f.Name(), err)
	}
	if string(prefix[:len(magic)]) != magic {
		return storedObject{}, fmt.Errorf("corrupt object file %s: bad magic", f.Name())
	}
	n := binary.BigEndian.Uint32(prefix[len(magic):])
	if n > maxHeaderBytes {
		return storedObject{}, fmt.Errorf("corrupt object file %s: header of %d bytes", f.Name(), n)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(f, js); err != nil {
		return storedObject{}, fmt.Errorf("corrupt object file %s: %w", f.Name(), err)
	}
	var h header
	if err := json.Unmarshal(js, &h); err != nil {
		return storedObject{}, fmt.Errorf("corrupt object file %s: %w", f.Name(), err)
	}
	if h.Key != key {
		return storedObject{}, fmt.Errorf("object file %s holds key %q, not %q", f.Name(), h.Key, key)
	}
	offset := int64(prefixLen) + int64(n)
	fi, err := f.Stat()
	if err != nil {
		return storedObject{}, err
	}
	if fi.Size() != offset+h.Size {
		return storedObject{}, fmt.Errorf("corrupt object file %s: %d bytes, header says %d", f.Name(), fi.Size(), offset+h.Size)
	}
	return storedObject{blob.Object{Key: h.Key, Size: h.Size, ContentType: h.ContentType, ModTime: h.ModTime}, offset}, nil
}
