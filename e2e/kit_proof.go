package e2e

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"strings"

	"github.com/stretchr/testify/require"
)

// AddProof uploads a PNG (a small picture of a parcel on a doorstep) as
// the driver, through a presigned upload, and records it as the order's
// proof of delivery.
func AddProof(t TB, drv *Caller, orderID string) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 96, 72))
	for y := range 72 {
		for x := range 96 {
			switch {
			case x >= 34 && x < 62 && y >= 30 && y < 54: // the parcel
				img.Set(x, y, color.RGBA{176, 122, 58, 255})
			case y >= 54: // the step
				img.Set(x, y, color.RGBA{150, 150, 150, 255})
			default: // the door
				img.Set(x, y, color.RGBA{31, 78, 121, 255})
			}
		}
	}
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	var p struct {
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
		Key     string            `json:"key"`
	}
	drv.Post(t, "/v1/uploads/presign", map[string]any{"order_id": orderID, "content_type": "image/png", "content_length": b.Len()}).
		Decode(t, http.StatusOK, &p)
	req, err := http.NewRequestWithContext(t.Context(), p.Method, p.URL, bytes.NewReader(b.Bytes()))
	require.NoError(t, err)
	for k, v := range p.Headers {
		if !strings.EqualFold(k, "Content-Length") {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	require.Less(t, resp.StatusCode, 300, "upload")
	drv.Post(t, "/v1/orders/"+orderID+"/proofs", map[string]string{"key": p.Key}).RequireStatus(t, http.StatusCreated)
}
