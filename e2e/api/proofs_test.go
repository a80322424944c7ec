package api_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/persistence/blob"
	"github.com/outrider/outrider/persistence/blob/s3/s3test"
	"github.com/outrider/outrider/wire"
)

type presignJSON struct {
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Key       string            `json:"key"`
	ExpiresAt string            `json:"expires_at"`
}

type proofJSON struct {
	Key          string  `json:"key"`
	ContentType  string  `json:"content_type"`
	Size         int64   `json:"size"`
	Seq          int64   `json:"seq"`
	URL          string  `json:"url"`
	ThumbnailURL *string `json:"thumbnail_url"`
	CreatedAt    string  `json:"created_at"`
}

// testPNG is a small real PNG image.
func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 200, 255})
		}
	}
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	return b.Bytes()
}

// proofFixture is an order accepted by its driver, ready for proofs.
type proofFixture struct {
	customer *e2e.Caller
	driver   *e2e.Caller
	order    wire.Order
}

func newProofFixture(t *testing.T, a *e2e.API, option string) proofFixture {
	t.Helper()
	fx := proofFixture{customer: a.Signup(t), driver: a.CreateDriver(t, 0, true)}
	req := e2e.ValidOrder()
	req["delivery_option"] = option
	fx.customer.Post(t, "/v1/orders", req).Decode(t, http.StatusCreated, &fx.order)
	a.Admin.OrderAction(t, fx.order.ID, "assign", map[string]string{"driver_id": fx.driver.User.ID})
	fx.order = fx.driver.OrderAction(t, fx.order.ID, "accept", nil)
	return fx
}

func (fx proofFixture) presign(t *testing.T, contentType string, length int) presignJSON {
	t.Helper()
	var p presignJSON
	fx.driver.Post(t, "/v1/uploads/presign", map[string]any{
		"order_id": fx.order.ID, "content_type": contentType, "content_length": length,
	}).Decode(t, http.StatusOK, &p)
	return p
}

// send makes the presigned request p with body, after edit (if any) has
// changed it, and returns the storage's status code.
func send(t *testing.T, p presignJSON, body []byte, edit func(r *http.Request)) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), p.Method, p.URL, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range p.Headers {
		if strings.EqualFold(k, "Content-Length") {
			continue // the client takes it from the body
		}
		req.Header.Set(k, v)
	}
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	return resp.StatusCode
}

func (fx proofFixture) record(t *testing.T, key string) *e2e.Response {
	t.Helper()
	return fx.driver.Post(t, "/v1/orders/"+fx.order.ID+"/proofs", map[string]string{"key": key})
}

func download(t *testing.T, rawURL string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(rawURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, body
}

// blobStores are the two places proofs may live: the node's own disk
// (outrider dev) and a real S3 server (versitygw).
var blobStores = []struct {
	name  string
	apply func(t *testing.T, c *app.Config)
}{
	{"local", func(*testing.T, *app.Config) {}},
	{"s3", func(t *testing.T, c *app.Config) {
		c.BlobDir = ""
		c.S3 = s3test.Start(t)
	}},
}

// TestProofUploads drives the whole proof flow against both blob stores:
// presign, upload straight to the storage, record, list and download;
// and every way an upload may be wrong.
func TestProofUploads(t *testing.T) {
	for _, store := range blobStores {
		t.Run(store.name, func(t *testing.T) {
			n, a := e2e.Up(t, func(c *app.Config) {
				store.apply(t, c)
				c.HTTP.UploadMaxBytes = 64 << 10
			})
			img := testPNG(t, 64, 48)

			t.Run("RoundTrip", func(t *testing.T) {
				fx := newProofFixture(t, a, "standard")
				p := fx.presign(t, "image/png", len(img))
				require.Equal(t, http.MethodPut, p.Method)
				require.True(t, strings.HasPrefix(p.Key, "proofs/"+fx.order.ID+"/"), p.Key)
				require.Contains(t, []int{200, 201, 204}, send(t, p, img, nil))

				var got proofJSON
				fx.record(t, p.Key).Decode(t, http.StatusCreated, &got)
				dir, file := path.Split(p.Key)
				require.Equal(t, dir+"recorded/"+file, got.Key, "kept under a key no URL can write")
				_, err := n.Blobs().Stat(t.Context(), p.Key)
				require.ErrorIs(t, err, blob.ErrNotFound, "the upload itself is removed")
				require.Equal(t, "image/png", got.ContentType)
				require.EqualValues(t, len(img), got.Size)
				require.EqualValues(t, fx.order.Version+1, got.Seq, "recorded as the order's next event")

				// Viewers list it with a working download URL; strangers do not see it.
				for _, viewer := range []*e2e.Caller{fx.customer, fx.driver, a.Admin} {
					var list struct{ Items []proofJSON }
					viewer.Get(t, "/v1/orders/"+fx.order.ID+"/proofs").Decode(t, http.StatusOK, &list)
					require.Len(t, list.Items, 1)
					status, body := download(t, list.Items[0].URL)
					require.Equal(t, http.StatusOK, status)
					require.Equal(t, img, body)
				}
				a.Signup(t).Get(t, "/v1/orders/"+fx.order.ID+"/proofs").Problem(t, http.StatusNotFound, "not_found")

				// The timeline says so, and the same key cannot be recorded twice.
				tl := fx.customer.Timeline(t, fx.order.ID)
				last := tl[len(tl)-1]
				require.Equal(t, "order.proof_added", last.Metadata["event"])
				require.Equal(t, got.Key, last.Metadata["proof_key"])
				fx.record(t, p.Key).Problem(t, http.StatusConflict, "already_exists")

				// The upload URL is still valid: what it writes now never
				// reaches the recorded proof.
				other := bytes.Clone(img)
				other[len(other)-1] ^= 0xff
				require.Contains(t, []int{200, 201, 204}, send(t, p, other, nil))
				fx.record(t, p.Key).Problem(t, http.StatusConflict, "already_exists")
				status, body := download(t, got.URL)
				require.Equal(t, http.StatusOK, status)
				require.Equal(t, img, body, "the recorded proof is unchanged")
			})

			t.Run("StorageRefusals", func(t *testing.T) {
				fx := newProofFixture(t, a, "standard")
				tests := []struct {
					name string
					body []byte
					edit func(r *http.Request)
				}{
					{"another content type", img, func(r *http.Request) { r.Header.Set("Content-Type", "image/jpeg") }},
					{"a larger body", append(bytes.Clone(img), 0), nil},
					{"a tampered signature", img, func(r *http.Request) { r.URL.RawQuery = tamper(r.URL.Query()).Encode() }},
					{"another key", img, func(r *http.Request) {
						r.URL.Path = strings.Replace(r.URL.Path, fx.order.ID, e2e.NonexistentID("ord"), 1)
						r.URL.RawPath = ""
					}},
				}
				for _, tt := range tests {
					t.Run(tt.name, func(t *testing.T) {
						p := fx.presign(t, "image/png", len(img))
						status := send(t, p, tt.body, tt.edit)
						require.True(t, status == http.StatusForbidden || status == http.StatusBadRequest ||
							status == http.StatusRequestEntityTooLarge, "status %d", status)
						fx.record(t, p.Key).Problem(t, http.StatusUnprocessableEntity, "upload_not_found")
					})
				}
			})

			t.Run("ExpiredURL", func(t *testing.T) {
				fx := newProofFixture(t, a, "standard")
				var p presignJSON
				// blob.MinTTL is the shortest lifetime; wait it out.
				fx.driver.Post(t, "/v1/uploads/presign", map[string]any{
					"order_id": fx.order.ID, "content_type": "image/png", "content_length": len(img),
				}).Decode(t, http.StatusOK, &p)
				exp, err := time.Parse(time.RFC3339, p.ExpiresAt)
				require.NoError(t, err)
				require.WithinDuration(t, time.Now().Add(10*time.Minute), exp, time.Minute, "the default upload lifetime")
				short, shortExp := presignShort(t, n, p.Key, len(img))
				require.Eventually(t, func() bool { return time.Now().After(shortExp.Add(time.Second)) },
					10*time.Second, 50*time.Millisecond, "the URL's expiry passes")
				require.Equal(t, http.StatusForbidden, send(t, short, img, nil))
				fx.record(t, p.Key).Problem(t, http.StatusUnprocessableEntity, "upload_not_found")
			})

			t.Run("APIRefusals", func(t *testing.T) {
				fx := newProofFixture(t, a, "standard")
				other := newProofFixture(t, a, "standard")

				// An HTML page uploaded as image/png is stored (the storage
				// cannot look inside) but refused at recording, and removed.
				html := []byte("<!DOCTYPE html><html><body><script>alert(1)</script></body></html>")
				p := fx.presign(t, "image/png", len(html))
				require.Contains(t, []int{200, 201, 204}, send(t, p, html, nil))
				fx.record(t, p.Key).Problem(t, http.StatusUnprocessableEntity, "upload_invalid")
				for _, k := range []string{p.Key, path.Dir(p.Key) + "/recorded/" + path.Base(p.Key)} {
					_, err := n.Blobs().Stat(t.Context(), k)
					require.ErrorIs(t, err, blob.ErrNotFound, "the refused upload is deleted: %s", k)
				}

				// Another order's key, even one that holds a real upload.
				theirs := other.presign(t, "image/png", len(img))
				require.Contains(t, []int{200, 201, 204}, send(t, theirs, img, nil))
				r := fx.record(t, theirs.Key)
				require.Equal(t, []string{"key"}, r.Problem(t, http.StatusUnprocessableEntity, "validation_failed").Fields())

				// Presign limits.
				tests := []struct {
					name  string
					body  map[string]any
					field string
				}{
					{"too large", map[string]any{"order_id": fx.order.ID, "content_type": "image/png", "content_length": 64<<10 + 1}, "content_length"},
					{"empty", map[string]any{"order_id": fx.order.ID, "content_type": "image/png", "content_length": 0}, "content_length"},
					{"not an image", map[string]any{"order_id": fx.order.ID, "content_type": "text/html", "content_length": 10}, "content_type"},
				}
				for _, tt := range tests {
					r := fx.driver.Post(t, "/v1/uploads/presign", tt.body, e2e.InvalidRequest())
					require.Equal(t, []string{tt.field}, r.Problem(t, http.StatusUnprocessableEntity, "validation_failed").Fields(), tt.name)
				}
				// Another driver's order is not found; the customer may not presign.
				other.driver.Post(t, "/v1/uploads/presign", map[string]any{
					"order_id": fx.order.ID, "content_type": "image/png", "content_length": 10,
				}).Problem(t, http.StatusNotFound, "not_found")
				fx.customer.Post(t, "/v1/uploads/presign", map[string]any{
					"order_id": fx.order.ID, "content_type": "image/png", "content_length": 10,
				}).Problem(t, http.StatusForbidden, "forbidden")
			})

			t.Run("NotBeforeAccepted", func(t *testing.T) {
				customer, driver := a.Signup(t), a.CreateDriver(t, 0, true)
				o := customer.CreateOrder(t)
				a.Admin.OrderAction(t, o.ID, "assign", map[string]string{"driver_id": driver.User.ID})
				driver.Post(t, "/v1/uploads/presign", map[string]any{
					"order_id": o.ID, "content_type": "image/png", "content_length": 10,
				}).Problem(t, http.StatusConflict, "invalid_transition")
			})
		})
	}
}

// presignShort presigns key for upload with the shortest lifetime there
// is, straight on the node's store (the API's lifetime is minutes).
func presignShort(t *testing.T, n *app.Node, key string, length int) (presignJSON, time.Time) {
	t.Helper()
	p, err := n.Blobs().PresignPut(t.Context(), key, "image/png", int64(length), blob.MinTTL)
	require.NoError(t, err)
	return presignJSON{Method: p.Method, URL: p.URL, Headers: p.Headers, Key: key}, p.ExpiresAt
}

// tamper changes the first character of the URL's signature parameter
// (not the last: in unpadded base64 its low bits may be padding).
func tamper(q url.Values) url.Values {
	for _, name := range []string{"sig", "X-Amz-Signature"} {
		if v := q.Get(name); v != "" {
			repl := "A"
			if v[0] == 'A' {
				repl = "B"
			}
			q.Set(name, repl+v[1:])
		}
	}
	return q
}

// TestProofRequiredBeforeDelivered: with proofs required for express
// orders, delivered waits for one; standard orders are unaffected.
func TestProofRequiredBeforeDelivered(t *testing.T) {
	_, a := e2e.Up(t, func(c *app.Config) { c.HTTP.ProofRequiredFor = []string{"express"} })
	img := testPNG(t, 8, 8)

	fx := newProofFixture(t, a, "express")
	fx.driver.SetStatus(t, fx.order.ID, "picked_up")
	fx.driver.SetStatus(t, fx.order.ID, "in_transit")
	fx.driver.Put(t, "/v1/orders/"+fx.order.ID+"/status", map[string]any{"status": "delivered"}).
		Problem(t, http.StatusConflict, "proof_required")
	a.Admin.Put(t, "/v1/orders/"+fx.order.ID+"/status", map[string]any{"status": "delivered"}).
		Problem(t, http.StatusConflict, "proof_required")
	p := fx.presign(t, "image/png", len(img))
	require.Contains(t, []int{200, 201, 204}, send(t, p, img, nil))
	fx.record(t, p.Key).RequireStatus(t, http.StatusCreated)
	fx.driver.SetStatus(t, fx.order.ID, "delivered")

	plain := newProofFixture(t, a, "standard")
	plain.driver.SetStatus(t, plain.order.ID, "picked_up")
	plain.driver.SetStatus(t, plain.order.ID, "in_transit")
	plain.driver.SetStatus(t, plain.order.ID, "delivered")
}
