// Package s3 is a blob.Store on an S3-compatible object server (AWS S3,
// MinIO, versitygw, ...), presigning with minio-go.
//
// Start with Config and New. Clients upload and download with presigned
// SigV4 URLs straight to the server; the node only signs them and then
// checks what arrived with Stat. body.go holds the reader that makes Put
// all-or-nothing; s3test starts a real server (versitygw) for tests.
//
// # Object names
//
// The object under key is named key + "!" in the bucket (ObjectName).
// S3 itself lets "a" and "a/b" coexist, as blob.Store promises, but the
// servers that keep objects as files refuse the second: versitygw's
// posix backend, which the tests run on, answers "Object parent already
// exists as a file", and MinIO XMinioParentIsObject. "!" is outside the
// key alphabet, so a name's
// last segment (a file) never equals another name's inner segment (a
// directory) and every key has a home on every server. "!" is on AWS's
// list of safe key characters; presigned URLs carry it as %21.
//
// # What the server enforces
//
// A presigned PUT signs the method, bucket, key, expiry and two headers,
// Content-Type and Content-Length, so a conforming server refuses a
// request whose method, URL, type or declared length differ from what was
// signed, or that arrives after ExpiresAt. The server also refuses a body
// that is shorter or longer than the Content-Length the client declared
// (HTTP framing), and a PUT without Content-Length (chunked): versitygw
// signs the declared length (0 if absent) into its canonical request and
// answers 411 MissingContentLength to a chunked PutObject. Together that
// binds the stored length to the signed one. s3_test.go pins these
// answers for versitygw.
//
// # Atomicity
//
// Every write is one PutObject request (never multipart), which S3
// publishes atomically on success. Put streams the caller's reader and
// aborts the request, leaving the previous object, if the reader yields a
// byte more or less than announced: see exactReader.
//
// # Concurrency
//
// A Store has no mutable state after New; the minio-go client is safe for
// concurrent use, so any number of goroutines may share a Store.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/outrider/outrider/persistence/blob"
)

// DefaultMaxObjectBytes is the default Config.MaxObjectBytes: 10 MiB.
const DefaultMaxObjectBytes = 10 << 20

// DefaultRegion is the default Config.Region.
const DefaultRegion = "us-east-1"

// maxSinglePutBytes is the largest object S3 accepts in one PutObject
// request; anything bigger would need a multipart upload, which Put does
// not do (see the package comment on atomicity).
const maxSinglePutBytes = 5 << 30

// Config locates the bucket and sets the store's limits.
type Config struct {
	// Endpoint is the server's host[:port], without scheme or path,
	// e.g. "s3.eu-west-1.amazonaws.com" or "127.0.0.1:7070": where the
	// store sends its own requests. Presigned URLs point at it too
	// unless PublicEndpoint is set.
	Endpoint string
	// PublicEndpoint, when set, is the address clients reach the same
	// server at, which presigned URLs name instead of Endpoint (the node
	// talks to "minio:9000" inside a compose network, phones and the host
	// to "localhost:9000" or "s3.example.com"). Either host[:port], then
	// it takes UseSSL's scheme, or http://host[:port] / https://host[:port]
	// with a scheme of its own (TLS terminated by a proxy in front of a
	// plain-HTTP server). The URLs are signed for this host: SigV4 signs
	// the Host header, and the server checks the one it receives, so the
	// proxy (if any) must pass Host through unchanged. Default: Endpoint.
	PublicEndpoint string
	// Bucket holds every object of this store, named as ObjectName
	// says.
	Bucket string
	// AccessKey and SecretKey are the static credentials that sign every
	// request and presigned URL. A presigned URL stays valid only while
	// the key that signed it does.
	AccessKey string
	SecretKey string
	// Region is part of every SigV4 signature. Default "us-east-1".
	// Setting it also saves minio-go a GetBucketLocation request before
	// the first presign.
	Region string
	// UseSSL selects https. Default false (plain http), which suits a
	// server on the loopback or in a private network only.
	UseSSL bool
	// MaxObjectBytes is the largest object PresignPut and Put accept.
	// Default 10 MiB: a phone photo of a parcel is 2 to 5 MB, and the
	// limit bounds what one presigned URL lets a client store at our
	// expense (issue 5 caps uploads at 10 MiB). At most 5 GiB, S3's
	// limit for a single PUT.
	MaxObjectBytes int64
	// CreateBucket makes New create Bucket if it does not exist. Default
	// false: New fails on a missing bucket, so a typo in production does
	// not silently start a new, empty bucket.
	CreateBucket bool
	// Transport carries the store's own requests (not the clients'
	// presigned ones). Default: minio-go's default transport. Tests pass
	// one they can close.
	Transport http.RoundTripper
}

// Store is a blob.Store on one S3 bucket. Create it with New.
type Store struct {
	client *minio.Client
	core   minio.Core // single-request PutObject and GetObject
	// presigner signs the URLs clients use: client itself, or a client
	// of PublicEndpoint that never sends a request (its region is set,
	// so presigning needs no bucket-location look-up).
	presigner *minio.Client
	bucket    string
	max       int64
}

var _ blob.Store = (*Store)(nil)

// New connects to the server, checks that the bucket exists (creating it
// if cfg.CreateBucket) and returns a store on it.
func New(ctx context.Context, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("s3 blob store: %w", err)
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.UseSSL,
		Region:    cfg.Region,
		Transport: cfg.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 blob store: client for %s: %w", cfg.Endpoint, err)
	}
	s := &Store{client: client, core: minio.Core{Client: client}, presigner: client, bucket: cfg.Bucket, max: cfg.MaxObjectBytes}
	if cfg.PublicEndpoint != "" {
		host, secure, err := publicEndpoint(cfg.PublicEndpoint, cfg.UseSSL)
		if err != nil {
			return nil, fmt.Errorf("s3 blob store: %w", err)
		}
		s.presigner, err = minio.New(host, &minio.Options{
			Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
			Secure:    secure,
			Region:    cfg.Region,
			Transport: cfg.Transport,
		})
		if err != nil {
			return nil, fmt.Errorf("s3 blob store: client for public endpoint %s: %w", cfg.PublicEndpoint, err)
		}
	}
	if err := s.ensureBucket(ctx, cfg.Region, cfg.CreateBucket); err != nil {
		return nil, fmt.Errorf("s3 blob store: %w", err)
	}
	return s, nil
}

// publicEndpoint reads Config.PublicEndpoint: host[:port] with the
// store's scheme, or http(s)://host[:port] with its own.
func publicEndpoint(e string, useSSL bool) (host string, secure bool, err error) {
	scheme, rest, hasScheme := strings.Cut(e, "://")
	if !hasScheme {
		scheme, rest = "", e
	}
	switch {
	case hasScheme && scheme != "http" && scheme != "https":
		return "", false, fmt.Errorf("public endpoint %q: want http:// or https://", e)
	case rest == "" || strings.ContainsAny(rest, "/?#@"):
		return "", false, fmt.Errorf("public endpoint %q: want host[:port] or http(s)://host[:port], without path", e)
	}
	if hasScheme {
		return rest, scheme == "https", nil
	}
	return rest, useSSL, nil
}

func (cfg Config) withDefaults() (Config, error) {
	if cfg.Endpoint == "" || strings.Contains(cfg.Endpoint, "/") {
		return cfg, fmt.Errorf("endpoint %q: want host[:port] without scheme or path", cfg.Endpoint)
	}
	if cfg.Bucket == "" {
		return cfg, errors.New("empty bucket name")
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return cfg, errors.New("access key and secret key are required")
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	switch {
	case cfg.MaxObjectBytes < 0 || cfg.MaxObjectBytes > maxSinglePutBytes:
		return cfg, fmt.Errorf("MaxObjectBytes %d: want 0 (default) to %d", cfg.MaxObjectBytes, int64(maxSinglePutBytes))
	case cfg.MaxObjectBytes == 0:
		cfg.MaxObjectBytes = DefaultMaxObjectBytes
	}
	return cfg, nil
}

func (s *Store) ensureBucket(ctx context.Context, region string, create bool) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("check bucket %s: %w", s.bucket, err)
	}
	if ok {
		return nil
	}
	if !create {
		return fmt.Errorf("bucket %s does not exist (set CreateBucket to create it)", s.bucket)
	}
	if err := s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: region}); err != nil {
		// Another node may have created it meanwhile.
		if code := minio.ToErrorResponse(err).Code; code == "BucketAlreadyOwnedByYou" {
			return nil
		}
		return fmt.Errorf("create bucket %s: %w", s.bucket, err)
	}
	return nil
}

// nameSuffix ends every object name; see the package comment.
const nameSuffix = "!"

// ObjectName is the name, in the bucket, of the object under key (a
// valid blob key): what an operator looks for in the bucket.
func ObjectName(key string) string { return key + nameSuffix }

// checkPut validates what PresignPut and Put share but the size.
func checkPut(key, contentType string) error {
	if err := blob.ValidateKey(key); err != nil {
		return err
	}
	return blob.ValidateContentType(contentType)
}

// PresignPut implements blob.Store. The URL is a SigV4 presigned PUT
// whose signed headers are Host, Content-Type and Content-Length.
func (s *Store) PresignPut(ctx context.Context, key, contentType string, contentLength int64, ttl time.Duration) (blob.Presigned, error) {
	if err := checkPut(key, contentType); err != nil {
		return blob.Presigned{}, fmt.Errorf("presign put %s: %w", key, err)
	}
	if contentLength < 0 || contentLength > s.max {
		return blob.Presigned{}, fmt.Errorf("presign put %s: %w: %d bytes (want 0 to %d)", key, blob.ErrTooLarge, contentLength, s.max)
	}
	length := strconv.FormatInt(contentLength, 10)
	hdr := http.Header{}
	hdr.Set("Content-Type", contentType)
	hdr.Set("Content-Length", length)
	p, err := s.presign(ctx, http.MethodPut, key, ttl, hdr)
	if err != nil {
		return blob.Presigned{}, fmt.Errorf("presign put %s: %w", key, err)
	}
	p.Headers = map[string]string{"Content-Type": contentType, "Content-Length": length}
	return p, nil
}

// PresignGet implements blob.Store.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (blob.Presigned, error) {
	if err := blob.ValidateKey(key); err != nil {
		return blob.Presigned{}, fmt.Errorf("presign get %s: %w", key, err)
	}
	p, err := s.presign(ctx, http.MethodGet, key, ttl, nil)
	if err != nil {
		return blob.Presigned{}, fmt.Errorf("presign get %s: %w", key, err)
	}
	p.Headers = map[string]string{}
	return p, nil
}

// presign signs method on key for ttl with hdr as signed headers, for
// the public endpoint when there is one. No request leaves the process:
// the region is configured.
func (s *Store) presign(ctx context.Context, method, key string, ttl time.Duration, hdr http.Header) (blob.Presigned, error) {
	if err := blob.ValidateTTL(ttl); err != nil {
		return blob.Presigned{}, err
	}
	u, err := s.presigner.PresignHeader(ctx, method, s.bucket, ObjectName(key), ttl, nil, hdr)
	if err != nil {
		return blob.Presigned{}, err
	}
	exp, err := expiresAt(u)
	if err != nil {
		return blob.Presigned{}, err
	}
	return blob.Presigned{Method: method, URL: u.String(), ExpiresAt: exp}, nil
}

// expiresAt reads the instant a SigV4 presigned URL stops working from
// the URL itself (X-Amz-Date plus X-Amz-Expires seconds), so ExpiresAt is
// exactly what the server will enforce, whatever minio-go's clock read
// and however it rounded ttl.
func expiresAt(u *url.URL) (time.Time, error) {
	q := u.Query()
	date, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		return time.Time{}, fmt.Errorf("presigned URL: X-Amz-Date: %w", err)
	}
	secs, err := strconv.ParseInt(q.Get("X-Amz-Expires"), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("presigned URL: X-Amz-Expires: %w", err)
	}
	return date.Add(time.Duration(secs) * time.Second), nil
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Object, error) {
	if err := blob.ValidateKey(key); err != nil {
		return blob.Object{}, fmt.Errorf("stat %s: %w", key, err)
	}
	info, err := s.client.StatObject(ctx, s.bucket, ObjectName(key), minio.StatObjectOptions{})
	if err != nil {
		return blob.Object{}, fmt.Errorf("stat %s: %w", key, mapError(err))
	}
	return object(key, info), nil
}

// Open implements blob.Store. It makes one GET request and returns its
// body: the server streams the version current when the request arrived,
// even if the key is overwritten while the caller reads.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, blob.Object, error) {
	if err := blob.ValidateKey(key); err != nil {
		return nil, blob.Object{}, fmt.Errorf("open %s: %w", key, err)
	}
	rc, info, _, err := s.core.GetObject(ctx, s.bucket, ObjectName(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, blob.Object{}, fmt.Errorf("open %s: %w", key, mapError(err))
	}
	return rc, object(key, info), nil
}

func object(key string, info minio.ObjectInfo) blob.Object {
	return blob.Object{Key: key, Size: info.Size, ContentType: info.ContentType, ModTime: info.LastModified.UTC()}
}

// Put implements blob.Store with one PutObject request. The body is
// checked while it streams; on a mismatch the request is cut short, so
// the server never receives a complete body and keeps the previous
// object.
func (s *Store) Put(ctx context.Context, key, contentType string, r io.Reader, size int64) error {
	if err := checkPut(key, contentType); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if size < 0 {
		return fmt.Errorf("put %s: %w: negative size %d", key, blob.ErrSizeMismatch, size)
	}
	if size > s.max {
		return fmt.Errorf("put %s: %w: %d bytes, limit %d", key, blob.ErrTooLarge, size, s.max)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	body := &exactReader{ctx: ctx, r: r, left: size}
	if size == 0 {
		// An empty body is never read by the HTTP client: check now
		// that r is empty too.
		if err := body.checkEOF(); err != nil {
			return fmt.Errorf("put %s: %w", key, err)
		}
	}
	_, err := s.core.PutObject(ctx, s.bucket, ObjectName(key), body, size, "", "", minio.PutObjectOptions{ContentType: contentType})
	if berr := body.finish(); berr != nil {
		// The body's own verdict beats however the transport reported
		// the aborted request.
		return fmt.Errorf("put %s: %w", key, berr)
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", key, mapError(err))
	}
	return nil
}

// Delete implements blob.Store. S3 answers 204 whether or not the object
// existed.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := blob.ValidateKey(key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := s.client.RemoveObject(ctx, s.bucket, ObjectName(key), minio.RemoveObjectOptions{}); err != nil {
		if errors.Is(mapError(err), blob.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("delete %s: %w", key, mapError(err))
	}
	return nil
}

// Copy makes dst a server-side copy of src (CopyObject: the bytes stay
// in the bucket).
func (s *Store) Copy(ctx context.Context, src, dst string) error {
	for _, k := range []string{src, dst} {
		if err := blob.ValidateKey(k); err != nil {
			return fmt.Errorf("copy %s to %s: %w", src, dst, err)
		}
	}
	_, err := s.client.CopyObject(ctx,
		minio.CopyDestOptions{Bucket: s.bucket, Object: ObjectName(dst)},
		minio.CopySrcOptions{Bucket: s.bucket, Object: ObjectName(src)})
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, mapError(err))
	}
	return nil
}

// mapError turns the server's "no such object" answers into
// blob.ErrNotFound (keeping the server's message) and leaves other
// errors as they are. A missing bucket is not ErrNotFound: it is a
// configuration error and must not read as "no proof uploaded yet".
// (HEAD answers carry no body, so minio-go reports any 404 on Stat as
// NoSuchKey; New has checked the bucket exists.)
func mapError(err error) error {
	switch minio.ToErrorResponse(err).Code {
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("%w: %w", blob.ErrNotFound, err)
	}
	return err
}
