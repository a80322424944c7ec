package httpapi

// Proofs of delivery. The bytes never pass through the API:
//
//  1. POST /v1/uploads/presign: the order's driver asks to upload one
//     image of a given type and length and gets a presigned PUT bound to
//     an unguessable key under the order, that type and that length.
//  2. The phone PUTs the photo straight to the blob store (S3, or the
//     node's own /v1/blobs/ in outrider dev).
//  3. POST /v1/orders/:id/proofs {key}: the API checks the object is
//     there, under this order, with the presigned length and type, and
//     that its first bytes really are that image type; then the order
//     actor records it as an order event (order.proof_added).
//
// The key carries what was presigned — proofs/<order>/<random>-<length>.<ext>
// — so recording needs no table of pending uploads: only the API presigns,
// and a key under this order with exactly that length and type can only
// have come from one of its presigns.
//
// Recording copies the upload to proofs/<order>/recorded/<random>-<length>.<ext>,
// a key that is never presigned, checks that copy and records it: the
// upload URL stays valid until it expires, but nothing it writes can
// change a recorded proof.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/persistence/blob"
	"github.com/outrider/outrider/problem"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/wire"
)

// proofExt maps each proof type (order.ProofTypes) to its key extension;
// TestProofExtCoversProofTypes keeps the two in step.
var proofExt = map[string]string{"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}

// proofKeyPattern matches a proof key: order id, 128 random bits in hex,
// the presigned length and the extension of the presigned type.
var proofKeyPattern = regexp.MustCompile(`^proofs/(ord_[0-9A-HJKMNP-TV-Z]{26})/[0-9a-f]{32}-([1-9][0-9]{0,11})\.(jpg|png|webp)$`)

// newProofKey is a fresh, unguessable key for an upload to orderID.
func newProofKey(orderID, contentType string, length int64) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("proof key: %w", err)
	}
	return fmt.Sprintf("proofs/%s/%s-%d.%s", orderID, hex.EncodeToString(b[:]), length, proofExt[contentType]), nil
}

// parseProofKey returns what key says was presigned, if it is a proof key
// of orderID.
func parseProofKey(key, orderID string) (contentType string, length int64, ok bool) {
	m := proofKeyPattern.FindStringSubmatch(key)
	if m == nil || m[1] != orderID {
		return "", 0, false
	}
	length, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return "", 0, false
	}
	for ct, ext := range proofExt {
		if ext == m[3] {
			return ct, length, true
		}
	}
	return "", 0, false
}

// recordedKey is where the proof uploaded under key is kept once recorded.
func recordedKey(key string) string {
	i := strings.LastIndexByte(key, '/')
	return key[:i] + "/recorded" + key[i:]
}

type presignRequest struct {
	OrderID       string `json:"order_id"`
	ContentType   string `json:"content_type"`
	ContentLength *int64 `json:"content_length"`
}

type presignResponse struct {
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Key       string            `json:"key"`
	ExpiresAt string            `json:"expires_at"`
}

func (s *Server) blobStore() (blob.Store, error) {
	if s.blobs == nil {
		return nil, errorf(problem.Unavailable, "this node has no blob storage configured")
	}
	return s.blobs, nil
}

// driversOrder is the order id if the calling driver may add proofs to
// it: 404 if it is not theirs, 409 if not in a status that takes proofs.
func (s *Server) driversOrder(ctx context.Context, id string, c *call) (actors.OrderRow, error) {
	row, err := s.orderVisibleTo(ctx, id, c.principal)
	if err != nil {
		return row, err
	}
	// The status alone: the count is checked where it is read (presign),
	// and again by the order when it records the proof.
	if rej := order.CanAddProof(row.Status, 0); rej != nil {
		return row, rejected(rej.Code, rej.Message)
	}
	return row, nil
}

func (s *Server) presignUpload(w http.ResponseWriter, r *http.Request, c *call) error {
	blobs, err := s.blobStore()
	if err != nil {
		return err
	}
	var req presignRequest
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	var fe []problem.FieldError
	if req.OrderID == "" {
		fe = append(fe, problem.FieldError{Field: "order_id", Message: "is required"})
	}
	if !slices.Contains(order.ProofTypes, req.ContentType) {
		fe = append(fe, problem.FieldError{Field: "content_type", Message: "must be image/jpeg, image/png or image/webp"})
	}
	if req.ContentLength == nil {
		fe = append(fe, problem.FieldError{Field: "content_length", Message: "is required"})
	} else if n := *req.ContentLength; n < 1 || n > s.cfg.UploadMaxBytes {
		fe = append(fe, problem.FieldError{Field: "content_length", Message: fmt.Sprintf("must be between 1 and %d bytes", s.cfg.UploadMaxBytes)})
	}
	if len(fe) > 0 {
		return invalid(fe...)
	}
	row, err := s.driversOrder(r.Context(), req.OrderID, c)
	if err != nil {
		return err
	}
	recorded, err := s.store.ListProofs(r.Context(), row.ID)
	if err != nil {
		return unavailable(err)
	}
	if rej := order.CanAddProof(row.Status, len(recorded)); rej != nil {
		return rejected(rej.Code, rej.Message)
	}
	key, err := newProofKey(row.ID, req.ContentType, *req.ContentLength)
	if err != nil {
		return err
	}
	p, err := blobs.PresignPut(r.Context(), key, req.ContentType, *req.ContentLength, s.cfg.UploadTTL)
	if err != nil {
		return unavailable(fmt.Errorf("presign upload: %w", err))
	}
	writeJSON(w, http.StatusOK, presignResponse{Method: p.Method, URL: p.URL, Headers: p.Headers, Key: key,
		ExpiresAt: wire.Timestamp(p.ExpiresAt)})
	return nil
}

type recordProofRequest struct {
	Key string `json:"key"`
}

type proofJSON struct {
	Key          string  `json:"key"`
	ContentType  string  `json:"content_type"`
	Size         int64   `json:"size"`
	By           wire.By `json:"by"`
	Seq          int64   `json:"seq"`
	CreatedAt    string  `json:"created_at"`
	URL          string  `json:"url"`
	ThumbnailURL *string `json:"thumbnail_url"`
	// URLsExpireAt is when url and thumbnail_url stop working.
	URLsExpireAt string `json:"urls_expire_at"`
}

// sniffBytes is how much of an upload http.DetectContentType looks at.
const sniffBytes = 512

// verifyUpload checks that key holds what was presigned for it: the
// length and type in the key, as stored, and bytes that are that type.
func verifyUpload(ctx context.Context, blobs blob.Store, key, contentType string, length int64) error {
	rc, obj, err := blobs.Open(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return errorf(problem.UploadNotFound, "nothing was uploaded under %s (or the upload has not finished)", key)
	}
	if err != nil {
		return unavailable(fmt.Errorf("open upload: %w", err))
	}
	defer rc.Close()
	if obj.Size != length {
		return errorf(problem.UploadInvalid, "the upload is %d bytes, %d were presigned", obj.Size, length)
	}
	if obj.ContentType != contentType {
		return errorf(problem.UploadInvalid, "the upload is stored as %q, %s was presigned", obj.ContentType, contentType)
	}
	head := make([]byte, sniffBytes)
	n, err := io.ReadFull(rc, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return unavailable(fmt.Errorf("read upload: %w", err))
	}
	if got := http.DetectContentType(head[:n]); got != contentType {
		return errorf(problem.UploadInvalid, "the uploaded bytes are %s, not %s", got, contentType)
	}
	return nil
}

func (s *Server) recordProof(w http.ResponseWriter, r *http.Request, c *call) error {
	blobs, err := s.blobStore()
	if err != nil {
		return err
	}
	id, err := c.id("ord")
	if err != nil {
		return err
	}
	var req recordProofRequest
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	if _, err := s.driversOrder(r.Context(), id, c); err != nil {
		return err
	}
	contentType, length, ok := parseProofKey(req.Key, id)
	if !ok {
		return invalid(problem.FieldError{Field: "key", Message: "is not an upload key of this order (use the key POST /v1/uploads/presign returned)"})
	}
	final := recordedKey(req.Key)
	recorded, err := s.store.ListProofs(r.Context(), id)
	if err != nil {
		return unavailable(err)
	}
	for _, p := range recorded {
		if p.Key == final {
			return errorf(problem.AlreadyExists, "this upload is already recorded as a proof")
		}
	}
	if err := blobs.Copy(r.Context(), req.Key, final); errors.Is(err, blob.ErrNotFound) {
		return errorf(problem.UploadNotFound, "nothing was uploaded under %s (or the upload has not finished)", req.Key)
	} else if err != nil {
		return unavailable(fmt.Errorf("keep upload: %w", err))
	}
	// Checked after the copy: the copy is what is recorded, and no URL
	// can write to it.
	if err := verifyUpload(r.Context(), blobs, final, contentType, length); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code == problem.UploadInvalid {
			// Not what was presigned: nothing will ever record it.
			s.deleteBlobs(r.Context(), final, req.Key)
		}
		return err
	}
	at := s.now()
	row, err := s.orderCommand(r, c, id, 0, &pb.OrderCommand{Body: &pb.OrderCommand_RecordProof{
		RecordProof: &pb.RecordProof{Key: final, ContentType: contentType, Size: length}}})
	if err != nil {
		return err
	}
	s.deleteBlobs(r.Context(), req.Key)
	out, err := s.proofView(r.Context(), blobs, proofFields{
		Key: final, ContentType: contentType, Size: length, ByUserID: c.principal.UserID, ByRole: c.principal.Role,
		Seq: row.Version, At: at,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// deleteBlobs removes objects nobody needs, logging failures (an orphan
// costs storage, not correctness).
func (s *Server) deleteBlobs(ctx context.Context, keys ...string) {
	for _, k := range keys {
		if err := s.blobs.Delete(ctx, k); err != nil {
			s.log.Warn("delete blob", "key", k, "err", err)
		}
	}
}

// proofFields is what proofView needs of a proof.
type proofFields struct {
	Key, ContentType, ThumbnailKey string
	Size, Seq                      int64
	ByUserID, ByRole               string
	At                             time.Time
}

func (s *Server) proofView(ctx context.Context, blobs blob.Store, p proofFields) (proofJSON, error) {
	get, err := blobs.PresignGet(ctx, p.Key, s.cfg.DownloadTTL)
	if err != nil {
		return proofJSON{}, unavailable(fmt.Errorf("presign proof download: %w", err))
	}
	out := proofJSON{Key: p.Key, ContentType: p.ContentType, Size: p.Size, Seq: p.Seq,
		By: wire.By{UserID: p.ByUserID, Role: p.ByRole}, CreatedAt: wire.Timestamp(p.At),
		URL: get.URL, URLsExpireAt: wire.Timestamp(get.ExpiresAt)}
	if p.ThumbnailKey != "" {
		thumb, err := blobs.PresignGet(ctx, p.ThumbnailKey, s.cfg.DownloadTTL)
		if err != nil {
			return proofJSON{}, unavailable(fmt.Errorf("presign thumbnail download: %w", err))
		}
		out.ThumbnailURL = &thumb.URL
	}
	return out, nil
}

func (s *Server) listProofs(w http.ResponseWriter, r *http.Request, c *call) error {
	blobs, err := s.blobStore()
	if err != nil {
		return err
	}
	row, err := s.visibleOrder(r, c)
	if err != nil {
		return err
	}
	proofs, err := s.store.ListProofs(r.Context(), row.ID)
	if err != nil {
		return unavailable(err)
	}
	items := make([]proofJSON, 0, len(proofs))
	for _, p := range proofs {
		v, err := s.proofView(r.Context(), blobs, proofFields{
			Key: p.Key, ContentType: p.ContentType, ThumbnailKey: p.ThumbnailKey, Size: p.Size, Seq: p.Seq,
			ByUserID: p.ByUserID, ByRole: actors.RoleDriver, At: p.At,
		})
		if err != nil {
			return err
		}
		items = append(items, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

// serveBlob hands a /v1/blobs/ request to the blob store's own handler
// (the signed URL is its authentication).
func (s *Server) serveBlob(w http.ResponseWriter, r *http.Request, _ *call) error {
	if s.blobServer == nil {
		return errorf(problem.NotFound, "this node does not serve blobs")
	}
	s.blobServer.ServeHTTP(w, r)
	return nil
}
