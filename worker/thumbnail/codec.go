package thumbnail

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"mime"

	"golang.org/x/image/webp"
)

// codec is one accepted format. Make calls the decoders directly rather
// than through image.Decode, whose registry is process-wide: any package
// linked into the binary can add formats to it (image/gif, BMP, TIFF), and
// image.Decode would then happily decode a GIF sent as image/png.
type codec struct {
	mimeType     string
	name         string // as sniff reports it
	decodeConfig func(io.Reader) (image.Config, error)
	decode       func(io.Reader) (image.Image, error)
}

var codecs = map[string]codec{
	"image/jpeg": {"image/jpeg", "jpeg", jpeg.DecodeConfig, jpeg.Decode},
	"image/png":  {"image/png", "png", png.DecodeConfig, png.Decode},
	"image/webp": {"image/webp", "webp", webp.DecodeConfig, webp.Decode},
}

// codecFor returns the codec for a Content-Type header value.
func codecFor(contentType string) (codec, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return codec{}, fmt.Errorf("thumbnail: content type %q: %w: %w", contentType, ErrUnsupported, err)
	}
	c, ok := codecs[mt]
	if !ok {
		return codec{}, fmt.Errorf("thumbnail: content type %q is not image/jpeg, image/png or image/webp: %w", mt, ErrUnsupported)
	}
	return c, nil
}

// sniff names the format whose signature b starts with: "jpeg", "png",
// "webp", or "" for none of them.
func sniff(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")): // SOI, then a marker
		return "jpeg"
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "webp"
	}
	return ""
}

// describe names a sniffed format for an error message.
func describe(format string) string {
	if format == "" {
		return "not a JPEG, PNG or WebP image"
	}
	return format
}
