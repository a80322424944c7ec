package thumbnail

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"os"
	"runtime"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

var (
	red   = color.RGBA{255, 0, 0, 255}
	green = color.RGBA{0, 255, 0, 255}
	blue  = color.RGBA{0, 0, 255, 255}
	white = color.RGBA{255, 255, 255, 255}
	clear = color.RGBA{}
)

// halves returns a w×h image whose left half is left and right half is
// right; transparent colours make it an NRGBA with alpha.
func halves(w, h int, left, right color.RGBA) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := right
			if x < w/2 {
				c = left
			}
			m.Set(x, y, c)
		}
	}
	return m
}

// paletted returns the halves(w, h, clear, blue) picture as a paletted
// image, which PNG stores with a tRNS chunk.
func paletted(w, h int) *image.Paletted {
	m := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{clear, blue})
	for y := range h {
		for x := w / 2; x < w; x++ {
			m.SetColorIndex(x, y, 1)
		}
	}
	return m
}

func encodeJPEG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}))
	return b.Bytes()
}

func encodePNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, m))
	return b.Bytes()
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return b
}

// pngChunk frames one PNG chunk with its length and CRC.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

// pngHeaderOnly builds a well-formed PNG prefix whose IHDR declares w×h
// 8-bit RGB, followed by a tiny IDAT holding one row's worth of zeros:
// what a decompression bomb looks like to a header parser.
func pngHeaderOnly(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // depth 8, RGB, deflate, filter 0, no interlace
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, _ = zw.Write(make([]byte, 64))
	_ = zw.Close()
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("IDAT", z.Bytes())...)
	return append(out, pngChunk("IEND", nil)...)
}

// jpegHeaderOnly builds a JPEG whose baseline frame header declares w×h
// with three components, followed by the start of a scan with nothing
// decodable in it. (Without a JFIF APP0 segment, jpeg.DecodeConfig reads
// on to the start of scan, to look for an Adobe APP14 colour transform.)
func jpegHeaderOnly(w, h uint16) []byte {
	sof := []byte{0xff, 0xd8, 0xff, 0xc0, 0, 17, 8}
	sof = binary.BigEndian.AppendUint16(sof, h)
	sof = binary.BigEndian.AppendUint16(sof, w)
	sof = append(sof, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1)
	sof = append(sof, 0xff, 0xda, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0)
	return append(sof, make([]byte, 64)...)
}

// webpHeaderOnly builds an extended-format WebP whose VP8X canvas is w×h.
func webpHeaderOnly(w, h uint32) []byte {
	vp8x := []byte("VP8X\x0a\x00\x00\x00\x00\x00\x00\x00")
	vp8x = append(vp8x, byte(w-1), byte((w-1)>>8), byte((w-1)>>16))
	vp8x = append(vp8x, byte(h-1), byte((h-1)>>8), byte((h-1)>>16))
	body := append([]byte("WEBP"), vp8x...)
	body = append(body, make([]byte, 64)...)
	out := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	return append(out, body...)
}

// decodeThumb checks that out is a JPEG and returns it.
func decodeThumb(t *testing.T, out []byte) image.Image {
	t.Helper()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(out))
	require.NoError(t, err)
	require.Equal(t, "jpeg", format)
	m, err := jpeg.Decode(bytes.NewReader(out))
	require.NoError(t, err)
	require.Equal(t, image.Pt(cfg.Width, cfg.Height), m.Bounds().Size())
	return m
}

// requireColor checks the pixel at fractions (fx, fy) of m's size against
// want, with room for JPEG's losses.
func requireColor(t *testing.T, m image.Image, fx, fy float64, want color.RGBA) {
	t.Helper()
	b := m.Bounds()
	x, y := b.Min.X+int(fx*float64(b.Dx())), b.Min.Y+int(fy*float64(b.Dy()))
	r, g, bl, _ := m.At(x, y).RGBA()
	got := [3]int{int(r >> 8), int(g >> 8), int(bl >> 8)}
	for i, w := range [3]uint8{want.R, want.G, want.B} {
		require.InDelta(t, int(w), got[i], 40, "pixel (%d,%d) is %v, want %v", x, y, got, want)
	}
}

type probe struct {
	fx, fy float64
	want   color.RGBA
}

func TestMake(t *testing.T) {
	t.Parallel()

	wide := halves(1000, 500, red, blue)
	wideJPEG := encodeJPEG(t, wide)
	tests := []struct {
		name        string
		in          []byte
		contentType string
		lim         Limits
		src, thumb  image.Point
		probes      []probe
	}{
		{name: "jpeg 1000x500 shrinks to 320x160", in: wideJPEG, contentType: "image/jpeg",
			src: image.Pt(1000, 500), thumb: image.Pt(320, 160),
			probes: []probe{{0.25, 0.5, red}, {0.75, 0.5, blue}}},
		{name: "jpeg 100x50 keeps its size", in: encodeJPEG(t, halves(100, 50, red, blue)), contentType: "image/jpeg",
			src: image.Pt(100, 50), thumb: image.Pt(100, 50),
			probes: []probe{{0.25, 0.5, red}, {0.75, 0.5, blue}}},
		{name: "jpeg portrait 500x1000 shrinks to 160x320", in: encodeJPEG(t, halves(500, 1000, red, blue)), contentType: "image/jpeg",
			src: image.Pt(500, 1000), thumb: image.Pt(160, 320)},
		{name: "png with alpha is flattened onto white", in: encodePNG(t, halves(1000, 500, clear, green)), contentType: "image/png",
			src: image.Pt(1000, 500), thumb: image.Pt(320, 160),
			probes: []probe{{0.25, 0.5, white}, {0.75, 0.5, green}}},
		{name: "png 100x50 with alpha keeps its size", in: encodePNG(t, halves(100, 50, clear, green)), contentType: "image/png",
			src: image.Pt(100, 50), thumb: image.Pt(100, 50),
			probes: []probe{{0.25, 0.5, white}, {0.75, 0.5, green}}},
		{name: "png 1x1000 keeps a 1 pixel side", in: encodePNG(t, halves(1, 1000, red, red)), contentType: "image/png",
			src: image.Pt(1, 1000), thumb: image.Pt(1, 320)},
		{name: "grayscale jpeg", in: encodeJPEG(t, image.NewGray(image.Rect(0, 0, 1000, 500))), contentType: "image/jpeg",
			src: image.Pt(1000, 500), thumb: image.Pt(320, 160), probes: []probe{{0.5, 0.5, color.RGBA{}}}},
		{name: "paletted png with a transparent entry", in: encodePNG(t, paletted(1000, 500)), contentType: "image/png",
			src: image.Pt(1000, 500), thumb: image.Pt(320, 160),
			probes: []probe{{0.25, 0.5, white}, {0.75, 0.5, blue}}},
		{name: "webp lossy", in: readFixture(t, "lossy.webp"), contentType: "image/webp",
			src: image.Pt(640, 480), thumb: image.Pt(320, 240),
			probes: []probe{{0.25, 0.75, red}, {0.75, 0.75, blue}, {0.05, 0.1, color.RGBA{}}, {0.95, 0.1, white}}},
		{name: "webp lossy with alpha", in: readFixture(t, "lossy-alpha.webp"), contentType: "image/webp",
			src: image.Pt(640, 480), thumb: image.Pt(320, 240),
			probes: []probe{{0.25, 0.75, white}, {0.75, 0.75, blue}}},
		{name: "webp lossless with alpha", in: readFixture(t, "lossless-alpha.webp"), contentType: "image/webp",
			src: image.Pt(640, 480), thumb: image.Pt(320, 240),
			probes: []probe{{0.25, 0.75, white}, {0.75, 0.75, blue}}},
		{name: "content type parameters and case are ignored", in: encodePNG(t, wide), contentType: "Image/PNG; charset=binary",
			src: image.Pt(1000, 500), thumb: image.Pt(320, 160)},
		{name: "custom MaxSide", in: wideJPEG, contentType: "image/jpeg", lim: Limits{MaxSide: 64},
			src: image.Pt(1000, 500), thumb: image.Pt(64, 32)},
		{name: "exactly MaxPixels", in: encodePNG(t, wide), contentType: "image/png", lim: Limits{MaxPixels: 500_000},
			src: image.Pt(1000, 500), thumb: image.Pt(320, 160)},
		{name: "exactly MaxBytes", in: wideJPEG, contentType: "image/jpeg", lim: Limits{MaxBytes: int64(len(wideJPEG))},
			src: image.Pt(1000, 500), thumb: image.Pt(320, 160)},
		{name: "trailing bytes within MaxBytes", in: append(encodePNG(t, wide), make([]byte, 1000)...), contentType: "image/png",
			src: image.Pt(1000, 500), thumb: image.Pt(320, 160)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// OneByteReader: the header capture and replay must not depend
			// on how the input arrives.
			for _, r := range []io.Reader{bytes.NewReader(tt.in), iotest.OneByteReader(bytes.NewReader(tt.in))} {
				out, info, err := Make(r, tt.contentType, tt.lim)
				require.NoError(t, err)
				require.Equal(t, Info{Width: tt.src.X, Height: tt.src.Y, ThumbWidth: tt.thumb.X, ThumbHeight: tt.thumb.Y}, info)
				m := decodeThumb(t, out)
				require.Equal(t, tt.thumb, m.Bounds().Size())
				for _, p := range tt.probes {
					requireColor(t, m, p.fx, p.fy, p.want)
				}
			}
		})
	}
}

func TestMakeRefuses(t *testing.T) {
	t.Parallel()

	wide := halves(1000, 500, red, blue)
	jpg, pngBytes := encodeJPEG(t, wide), encodePNG(t, wide)
	tests := []struct {
		name        string
		in          []byte
		contentType string
		lim         Limits
		want        error
		msg         string // in the error text
	}{
		{name: "html declared as png", in: []byte("<!doctype html><html><body>hi</body></html>"), contentType: "image/png",
			want: ErrUnsupported, msg: "declared image/png but content is not a JPEG, PNG or WebP image"},
		{name: "png declared as jpeg", in: pngBytes, contentType: "image/jpeg",
			want: ErrUnsupported, msg: "declared image/jpeg but content is png"},
		{name: "jpeg declared as webp", in: jpg, contentType: "image/webp",
			want: ErrUnsupported, msg: "declared image/webp but content is jpeg"},
		{name: "gif is not accepted", in: []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), contentType: "image/gif",
			want: ErrUnsupported, msg: `content type "image/gif" is not`},
		{name: "empty content type", in: jpg, contentType: "", want: ErrUnsupported},
		{name: "empty input", in: nil, contentType: "image/jpeg", want: ErrUnsupported},
		{name: "truncated jpeg", in: jpg[:len(jpg)/2], contentType: "image/jpeg", want: ErrCorrupt, msg: "decode jpeg"},
		{name: "jpeg cut inside its header", in: jpg[:20], contentType: "image/jpeg", want: ErrCorrupt, msg: "read jpeg header"},
		{name: "truncated png", in: pngBytes[:len(pngBytes)/2], contentType: "image/png", want: ErrCorrupt},
		{name: "truncated webp", in: readFixture(t, "lossy.webp")[:500], contentType: "image/webp", want: ErrCorrupt},
		{name: "png bomb 50000x50000", in: pngHeaderOnly(50_000, 50_000), contentType: "image/png",
			want: ErrTooManyPixels, msg: "50000x50000 is more than 40000000 pixels"},
		{name: "jpeg bomb 65000x65000", in: jpegHeaderOnly(65_000, 65_000), contentType: "image/jpeg", want: ErrTooManyPixels},
		{name: "webp bomb 16384x16384", in: webpHeaderOnly(16_384, 16_384), contentType: "image/webp", want: ErrTooManyPixels},
		{name: "one pixel over MaxPixels", in: pngBytes, contentType: "image/png", lim: Limits{MaxPixels: 499_999}, want: ErrTooManyPixels},
		{name: "one byte over MaxBytes", in: jpg, contentType: "image/jpeg", lim: Limits{MaxBytes: int64(len(jpg) - 1)},
			want: ErrTooLarge, msg: "longer than"},
		{name: "complete image then too many bytes", in: append(append([]byte{}, pngBytes...), make([]byte, 100)...), contentType: "image/png",
			lim: Limits{MaxBytes: int64(len(pngBytes) + 99)}, want: ErrTooLarge},
		{name: "MaxBytes below the signature", in: jpg, contentType: "image/jpeg", lim: Limits{MaxBytes: 4}, want: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, info, err := Make(bytes.NewReader(tt.in), tt.contentType, tt.lim)
			require.ErrorIs(t, err, tt.want)
			require.Contains(t, err.Error(), tt.msg)
			require.Nil(t, out)
			require.Zero(t, info)
		})
	}
}

// TestMakeRefusesBombBeforeAllocating measures the bytes Make allocates
// while refusing header-only bombs. Decoding them would need gigabytes
// (10 GB of RGBA for the PNG); refusing them must cost a few KB of buffers.
// Two controls show the measurement can tell the difference: an accepted
// 1000×1000 PNG is seen allocating its 4 MB image, and a header-only
// 4000×4000 PNG let through by a raised MaxPixels allocates its 64 MB image
// before failing on the missing data, which is the attack the pixel check
// stops.
//
// Not parallel: TotalAlloc counts every goroutine's allocations, and
// top-level tests that call t.Parallel do not start until the sequential
// ones have finished.
func TestMakeRefusesBombBeforeAllocating(t *testing.T) {
	perRun := func(runs int, in []byte, contentType string, lim Limits) (uint64, error) {
		var before, after runtime.MemStats
		var err error
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range runs {
			_, _, err = Make(bytes.NewReader(in), contentType, lim)
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / uint64(runs), err
	}

	bombs := []struct {
		name, contentType string
		in                []byte
	}{
		{"png 50000x50000", "image/png", pngHeaderOnly(50_000, 50_000)},
		{"jpeg 65000x65000", "image/jpeg", jpegHeaderOnly(65_000, 65_000)},
		{"webp 16384x16384", "image/webp", webpHeaderOnly(16_384, 16_384)},
	}
	for _, b := range bombs {
		t.Run(b.name, func(t *testing.T) {
			bytesPerRun, err := perRun(10, b.in, b.contentType, Limits{})
			require.ErrorIs(t, err, ErrTooManyPixels)
			require.Less(t, bytesPerRun, uint64(1<<20), "refusing allocated %d bytes", bytesPerRun)
			t.Logf("refused with %d bytes allocated", bytesPerRun)
		})
	}

	t.Run("control: an accepted image is seen", func(t *testing.T) {
		bytesPerRun, err := perRun(1, encodePNG(t, halves(1000, 1000, red, blue)), "image/png", Limits{})
		require.NoError(t, err)
		require.Greater(t, bytesPerRun, uint64(4_000_000))
	})
	t.Run("control: a header-only image let through allocates", func(t *testing.T) {
		bytesPerRun, err := perRun(1, pngHeaderOnly(4000, 4000), "image/png", Limits{MaxPixels: 16_000_000})
		require.ErrorIs(t, err, ErrCorrupt)
		require.Greater(t, bytesPerRun, uint64(64_000_000))
	})
}

// TestMakeDoesNotAlias shrinks 1-pixel black and white stripes: a
// properly filtered thumbnail is an even grey, where point sampling
// (draw.ApproxBiLinear) would swing from near black to near white.
func TestMakeDoesNotAlias(t *testing.T) {
	t.Parallel()

	src := image.NewGray(image.Rect(0, 0, 1000, 1000))
	for y := range 1000 {
		for x := 0; x < 1000; x += 2 {
			src.SetGray(x, y, color.Gray{Y: 255})
		}
	}
	out, _, err := Make(bytes.NewReader(encodePNG(t, src)), "image/png", Limits{})
	require.NoError(t, err)
	m := decodeThumb(t, out)
	require.Equal(t, image.Pt(320, 320), m.Bounds().Size())
	for y := range 320 {
		for x := range 320 {
			r, _, _, _ := m.At(x, y).RGBA()
			require.InDelta(t, 128, int(r>>8), 30, "pixel (%d,%d)", x, y)
		}
	}
}

func TestMakeReportsReadErrors(t *testing.T) {
	t.Parallel()

	broken := errors.New("connection reset")
	jpg := encodeJPEG(t, halves(1000, 500, red, blue))
	for _, n := range []int{0, 5, 300, len(jpg) / 2, len(jpg)} {
		r := io.MultiReader(bytes.NewReader(jpg[:n]), iotest.ErrReader(broken))
		_, _, err := Make(r, "image/jpeg", Limits{})
		require.ErrorIs(t, err, broken, "after %d bytes", n)
		require.NotErrorIs(t, err, ErrCorrupt, "after %d bytes", n)
	}
}

func TestCheckPixels(t *testing.T) {
	t.Parallel()

	tests := []struct {
		w, h int
		max  int64
		ok   bool
	}{
		{1, 1, 1, true},
		{1000, 500, 500_000, true},
		{1000, 500, 499_999, false},
		{0, 10, 100, false},
		{10, 0, 100, false},
		{-10, -10, 100, false},
		{math.MaxInt, 1, math.MaxInt64, true},
		{math.MaxInt, 2, math.MaxInt64, false},
		{1 << 40, 1 << 40, math.MaxInt64, false}, // the product overflows int64
		{math.MaxInt, math.MaxInt, 40_000_000, false},
	}
	for _, tt := range tests {
		err := checkPixels(tt.w, tt.h, tt.max)
		if tt.ok {
			require.NoError(t, err, "%dx%d max %d", tt.w, tt.h, tt.max)
		} else {
			require.ErrorIs(t, err, ErrTooManyPixels, "%dx%d max %d", tt.w, tt.h, tt.max)
		}
	}
}

func TestFit(t *testing.T) {
	t.Parallel()

	tests := []struct{ w, h, side, tw, th int }{
		{1000, 500, 320, 320, 160},
		{500, 1000, 320, 160, 320},
		{100, 50, 320, 100, 50},
		{320, 320, 320, 320, 320},
		{4000, 3000, 320, 320, 240},
		{3000, 4000, 320, 240, 320},
		{1001, 1000, 320, 320, 320}, // 319.68 rounds up
		{100_000, 1, 320, 320, 1},   // never below one pixel
		{1, 100_000, 320, 1, 320},
	}
	for _, tt := range tests {
		tw, th := fit(tt.w, tt.h, tt.side)
		require.Equal(t, [2]int{tt.tw, tt.th}, [2]int{tw, th}, "%dx%d into %d", tt.w, tt.h, tt.side)
	}
}

// FuzzMake feeds arbitrary bytes to Make. It must not panic, must
// classify every failure with a sentinel (the reader here never fails),
// and on success must return a decodable JPEG no larger than MaxSide.
func FuzzMake(f *testing.F) {
	small := halves(40, 20, clear, blue)
	f.Add(encodeJPEG(f, small), "image/jpeg")
	f.Add(withEXIF(encodeJPEG(f, small), "II", 6), "image/jpeg")
	f.Add(encodePNG(f, small), "image/png")
	f.Add(pngHeaderOnly(50_000, 50_000), "image/png")
	f.Add(jpegHeaderOnly(65_000, 65_000), "image/jpeg")
	for _, name := range []string{"lossy.webp", "lossy-alpha.webp", "lossless-alpha.webp"} {
		f.Add(readFixture(f, name), "image/webp")
	}
	f.Add([]byte("<html></html>"), "image/png")

	lim := Limits{MaxPixels: 1 << 20, MaxSide: 32, MaxBytes: 1 << 16}
	f.Fuzz(func(t *testing.T, in []byte, contentType string) {
		out, info, err := Make(bytes.NewReader(in), contentType, lim)
		if err != nil {
			for _, s := range []error{ErrUnsupported, ErrTooManyPixels, ErrCorrupt, ErrTooLarge} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("unclassified error: %v", err)
		}
		m := decodeThumb(t, out)
		require.Equal(t, image.Pt(info.ThumbWidth, info.ThumbHeight), m.Bounds().Size())
		require.LessOrEqual(t, max(info.ThumbWidth, info.ThumbHeight), lim.MaxSide)
		require.Positive(t, min(info.ThumbWidth, info.ThumbHeight))
	})
}

// BenchmarkMake makes a thumbnail of a 12-megapixel phone photo: a
// 4000×3000 JPEG with texture, so that decoding does real work.
func BenchmarkMake(b *testing.B) {
	m := image.NewYCbCr(image.Rect(0, 0, 4000, 3000), image.YCbCrSubsampleRatio420)
	for y := range 3000 {
		for x := range 4000 {
			m.Y[m.YOffset(x, y)] = uint8((x*7 + y*3 + (x*y)>>9) ^ (x >> 3))
		}
	}
	for y := range 1500 {
		for x := range 2000 {
			m.Cb[m.COffset(2*x, 2*y)] = uint8(x / 8)
			m.Cr[m.COffset(2*x, 2*y)] = uint8(y / 6)
		}
	}
	in := encodeJPEG(b, m)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Make(bytes.NewReader(in), "image/jpeg", Limits{MaxBytes: int64(len(in))}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(in))/(1<<20), "input-MiB")
}
