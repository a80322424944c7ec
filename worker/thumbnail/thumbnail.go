// Package thumbnail turns an uploaded proof-of-delivery photo into a small
// JPEG thumbnail without trusting the upload.
//
// Start with [Make]. It accepts image/jpeg, image/png and image/webp, checks
// that the bytes really are the declared format, reads the image header and
// refuses decompression bombs before any pixel buffer is allocated, decodes,
// scales the longest side down to [Limits.MaxSide], applies the JPEG's EXIF
// orientation, flattens transparency onto white and encodes a JPEG.
//
// Failures are reported with the sentinels [ErrUnsupported],
// [ErrTooManyPixels], [ErrCorrupt] and [ErrTooLarge], wrapped with context;
// compare them with errors.Is. Any other error comes from the reader.
//
// The package keeps no state: Make is safe to call from many goroutines.
package thumbnail

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math"

	"golang.org/x/image/draw"
)

// Sentinel errors returned (wrapped) by Make.
var (
	// ErrUnsupported: the content type is not one Make accepts, or the
	// bytes are not an image of that type (an HTML page sent as image/png,
	// a PNG sent as image/jpeg).
	ErrUnsupported = errors.New("unsupported image")
	// ErrTooManyPixels: the header declares more pixels than
	// Limits.MaxPixels, or a zero or negative dimension. The image was
	// not decoded.
	ErrTooManyPixels = errors.New("image has too many pixels")
	// ErrCorrupt: the bytes start like the declared format but cannot be
	// decoded (truncated, malformed).
	ErrCorrupt = errors.New("corrupt image")
	// ErrTooLarge: the input is longer than Limits.MaxBytes.
	ErrTooLarge = errors.New("image input too large")
)

// Defaults for the zero fields of Limits.
const (
	DefaultMaxBytes  = 10 << 20 // the upload limit for a photo
	DefaultMaxPixels = 40_000_000
	DefaultMaxSide   = 320
	DefaultQuality   = 80
)

// Limits bounds the work Make does for one image. A zero or negative field
// takes its default, so Limits{} is the production setting.
type Limits struct {
	// MaxBytes is the longest input accepted, in bytes. Default 10 MiB,
	// the upload limit for a photo: the worker must not read more than the
	// API let in. Make reads at most MaxBytes+1 bytes and refuses the input
	// with ErrTooLarge if that last byte exists, even after a complete image.
	MaxBytes int64
	// MaxPixels is the largest width*height accepted, checked against the
	// header before decoding. Default 40 megapixels, above any phone
	// camera. It exists because a few KB of PNG or JPEG can declare
	// gigapixels: decoding allocates about 4 bytes per pixel (RGBA) or 1.5
	// (YCbCr 4:2:0), and a progressive JPEG also keeps 4 bytes of
	// coefficients per pixel and component while it decodes, so the
	// default still allows several hundred MB for one hostile image.
	// Size the worker's concurrency with that in mind.
	MaxPixels int64
	// MaxSide is the thumbnail's longest side in pixels. Default 320.
	// Smaller images keep their size: thumbnails are never upscaled.
	MaxSide int
	// Quality is the JPEG quality of the thumbnail, 1 to 100. Default 80;
	// values above 100 are treated as 100.
	Quality int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if l.MaxSide <= 0 {
		l.MaxSide = DefaultMaxSide
	}
	if l.Quality <= 0 {
		l.Quality = DefaultQuality
	}
	return l
}

// Info describes the source image and the thumbnail Make produced. All
// dimensions are as displayed, after EXIF orientation: for a JPEG rotated
// by a quarter turn, Width and Height are the header's swapped.
type Info struct {
	Width, Height           int // source image
	ThumbWidth, ThumbHeight int // thumbnail
}

// Make reads one image of the given content type from r and returns a JPEG
// thumbnail whose longest side is at most lim.MaxSide, with the source's
// aspect ratio.
//
// contentType must be image/jpeg, image/png or image/webp (parameters such
// as "; charset=..." are ignored), and the bytes must start with that
// format's signature; otherwise the error wraps ErrUnsupported. Images whose
// header declares more than lim.MaxPixels pixels are refused with
// ErrTooManyPixels before decoding. Transparent pixels are flattened onto
// white, since JPEG has no alpha. For JPEG sources the EXIF orientation
// (tag 0x0112 in the APP1 segment) is applied, so the thumbnail is upright;
// PNG and WebP orientation metadata is ignored.
//
// Make consumes r up to lim.MaxBytes+1 bytes; it does not close it.
func Make(r io.Reader, contentType string, lim Limits) ([]byte, Info, error) {
	lim = lim.withDefaults()
	c, err := codecFor(contentType)
	if err != nil {
		return nil, Info{}, err
	}
	in := &boundedReader{r: r, limit: lim.MaxBytes}
	src, orientation, err := decode(in, c, lim.MaxPixels)
	if err != nil {
		return nil, Info{}, err
	}

	sw, sh := src.Bounds().Dx(), src.Bounds().Dy()
	tw, th := fit(sw, sh, lim.MaxSide)
	thumb := orient(scale(src, tw, th), orientation)

	info := Info{Width: sw, Height: sh, ThumbWidth: thumb.Rect.Dx(), ThumbHeight: thumb.Rect.Dy()}
	if swapsAxes(orientation) {
		info.Width, info.Height = sh, sw
	}
	var out bytes.Buffer
	if err := jpeg.Encode(&out, thumb, &jpeg.Options{Quality: lim.Quality}); err != nil {
		return nil, Info{}, fmt.Errorf("thumbnail: encode jpeg: %w", err)
	}
	return out.Bytes(), info, nil
}

// decode checks the signature and the header of the image in r, then
// decodes it. It returns the image and, for JPEG, its EXIF orientation
// (1 when absent).
func decode(in *boundedReader, c codec, maxPixels int64) (image.Image, int, error) {
	br := bufio.NewReader(in)
	// The longest signature is WebP's 12 bytes. A short or failed Peek
	// still returns what it got; a bad signature is reported as such, and
	// a read error surfaces through in.fail below.
	magic, _ := br.Peek(12)
	if err := in.fail(); err != nil {
		return nil, 0, err
	}
	if got := sniff(magic); got != c.name {
		return nil, 0, fmt.Errorf("thumbnail: declared %s but content is %s: %w", c.mimeType, describe(got), ErrUnsupported)
	}

	// Keep every byte the header parser reads so that the full decode can
	// start again from the first byte without re-reading r.
	var header bytes.Buffer
	cfg, err := c.decodeConfig(io.TeeReader(br, &header))
	if err != nil {
		return nil, 0, in.wrap(fmt.Sprintf("read %s header", c.name), err)
	}
	if err := checkPixels(cfg.Width, cfg.Height, maxPixels); err != nil {
		return nil, 0, fmt.Errorf("thumbnail: %s header: %w", c.name, err)
	}
	orientation := 1
	if c.name == "jpeg" {
		// jpeg.DecodeConfig reads at least to the frame header, and
		// EXIF's APP1 segment comes before it, so the header bytes hold it.
		orientation = jpegOrientation(header.Bytes())
	}

	img, err := c.decode(io.MultiReader(&header, br))
	if err != nil {
		return nil, 0, in.wrap(fmt.Sprintf("decode %s", c.name), err)
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, 0, fmt.Errorf("thumbnail: decode %s: header says %dx%d, image is %dx%d: %w",
			c.name, cfg.Width, cfg.Height, b.Dx(), b.Dy(), ErrCorrupt)
	}
	// The image may end before the input does; the rest must still fit
	// the byte limit.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return nil, 0, in.wrap("read past image", err)
	}
	return img, orientation, nil
}

// checkPixels refuses non-positive dimensions and width*height > limit,
// without overflowing whatever the dimensions are.
func checkPixels(w, h int, limit int64) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("dimensions %dx%d: %w", w, h, ErrTooManyPixels)
	}
	// w*h > limit  ⇔  w > limit/h  for positive integers; the division
	// cannot overflow where the product could.
	if int64(w) > limit/int64(h) {
		return fmt.Errorf("%dx%d is more than %d pixels: %w", w, h, limit, ErrTooManyPixels)
	}
	return nil
}

// fit returns the size of w×h scaled so that its longest side is side,
// keeping the aspect ratio and never enlarging; neither side is below 1.
func fit(w, h, side int) (int, int) {
	if w <= side && h <= side {
		return w, h
	}
	if w >= h {
		return side, max(1, int(math.Round(float64(h)*float64(side)/float64(w))))
	}
	return max(1, int(math.Round(float64(w)*float64(side)/float64(h)))), side
}

// scale draws src into a new w×h RGBA image over an opaque white
// background, so transparent pixels come out white rather than black when
// the alpha is dropped by the JPEG encoder.
func scale(src image.Image, w, h int) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(dst, dst.Rect, image.White, image.Point{}, draw.Src)
	if w == src.Bounds().Dx() && h == src.Bounds().Dy() {
		draw.Draw(dst, dst.Rect, src, src.Bounds().Min, draw.Over)
		return dst
	}
	// CatmullRom rather than ApproxBiLinear: a photo shrinks by 10× or more
	// here. x/image's kernel scalers widen the kernel by the scale factor,
	// so CatmullRom weighs every source pixel and 1-pixel stripes come out
	// an even grey (TestMakeDoesNotAlias), while ApproxBiLinear reads only
	// the 2×2 pixels nearest each output pixel and turns them into moiré
	// (0–255 swings on that test). The price is time: scaling a 4000×3000
	// JPEG costs about 250 ms with CatmullRom, a little more than decoding
	// it, against 2 ms for ApproxBiLinear and 130 ms for draw.BiLinear
	// (also antialiased, a little softer). For a background worker,
	// sharp, artefact-free thumbnails are worth it. Over with an opaque
	// source is turned into Src by the scaler, so opaque photos pay
	// nothing for the white background.
	draw.CatmullRom.Scale(dst, dst.Rect, src, src.Bounds(), draw.Over, nil)
	return dst
}

// boundedReader reads from r but fails with ErrTooLarge as soon as r
// yields more than limit bytes. Unlike io.LimitReader, which ends with a
// clean EOF, this lets Make tell an oversized input from a truncated one.
// It also remembers the reader's own error, because image decoders do not
// always wrap it.
type boundedReader struct {
	r        io.Reader
	limit    int64
	read     int64
	exceeded bool
	err      error // first error from r other than io.EOF
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.exceeded {
		return 0, ErrTooLarge
	}
	// Ask for one byte past the limit, so that an input of exactly limit
	// bytes passes and a longer one is caught.
	if room := b.limit - b.read + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	if b.read > b.limit {
		b.exceeded = true
		return n - int(b.read-b.limit), ErrTooLarge
	}
	if err != nil && !errors.Is(err, io.EOF) && b.err == nil {
		b.err = err
	}
	return n, err
}

// fail reports why reading stopped early, if it did: the byte limit or
// the underlying reader's error.
func (b *boundedReader) fail() error {
	switch {
	case b.exceeded:
		return fmt.Errorf("thumbnail: input is longer than %d bytes: %w", b.limit, ErrTooLarge)
	case b.err != nil:
		return fmt.Errorf("thumbnail: read input: %w", b.err)
	}
	return nil
}

// wrap explains a decoder's err: a reading failure if reading failed,
// otherwise corrupt data.
func (b *boundedReader) wrap(what string, err error) error {
	if ferr := b.fail(); ferr != nil {
		return ferr
	}
	return fmt.Errorf("thumbnail: %s: %w: %w", what, ErrCorrupt, err)
}
