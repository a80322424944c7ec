package thumbnail

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"testing"

	"github.com/stretchr/testify/require"
)

// withEXIF inserts, right after SOI, an XMP APP1 segment (which must be
// skipped) and an Exif APP1 segment whose IFD0 holds an unrelated tag and
// then Orientation = o, in byte order "II" or "MM".
func withEXIF(jpg []byte, order string, o uint16) []byte {
	var bo binary.AppendByteOrder = binary.LittleEndian
	if order == "MM" {
		bo = binary.BigEndian
	}
	tiff := []byte(order)
	tiff = bo.AppendUint16(tiff, 42)
	tiff = bo.AppendUint32(tiff, 8) // IFD0 right after the header
	tiff = bo.AppendUint16(tiff, 2) // two entries
	// ImageDescription (0x010e), ASCII, 4 bytes "abc\0" inline.
	tiff = bo.AppendUint16(tiff, 0x010e)
	tiff = bo.AppendUint16(tiff, 2)
	tiff = bo.AppendUint32(tiff, 4)
	tiff = append(tiff, "abc\x00"...)
	// Orientation (0x0112), SHORT, count 1, value left-justified.
	tiff = bo.AppendUint16(tiff, 0x0112)
	tiff = bo.AppendUint16(tiff, 3)
	tiff = bo.AppendUint32(tiff, 1)
	tiff = bo.AppendUint16(tiff, o)
	tiff = append(tiff, 0, 0)
	tiff = bo.AppendUint32(tiff, 0) // no next IFD

	segment := func(marker byte, payload []byte) []byte {
		s := []byte{0xff, marker}
		s = binary.BigEndian.AppendUint16(s, uint16(len(payload)+2))
		return append(s, payload...)
	}
	out := append([]byte{}, jpg[:2]...)
	out = append(out, segment(0xe1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta/>"))...)
	out = append(out, segment(0xe1, append([]byte("Exif\x00\x00"), tiff...))...)
	return append(out, jpg[2:]...)
}

// quadrants returns a 200×100 image whose quadrants are, clockwise from
// the top left, red, green, yellow and blue.
func quadrants() *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, 200, 100))
	for y := range 100 {
		for x := range 200 {
			c := [2][2]color.NRGBA{
				{{255, 0, 0, 255}, {0, 255, 0, 255}},
				{{0, 0, 255, 255}, {255, 255, 0, 255}},
			}[y/50][x/100]
			m.SetNRGBA(x, y, c)
		}
	}
	return m
}

func TestMakeAppliesEXIFOrientation(t *testing.T) {
	t.Parallel()

	const r, g, b, y = "red", "green", "blue", "yellow"
	colors := map[string]color.RGBA{r: {255, 0, 0, 255}, g: {0, 255, 0, 255}, b: {0, 0, 255, 255}, y: {255, 255, 0, 255}}
	// Displayed quadrants: top left, top right, bottom left, bottom right.
	tests := []struct {
		o    uint16
		want [4]string
	}{
		{0, [4]string{r, g, b, y}}, // invalid: ignored
		{1, [4]string{r, g, b, y}},
		{2, [4]string{g, r, y, b}}, // mirrored
		{3, [4]string{y, b, g, r}}, // turned 180°
		{4, [4]string{b, y, r, g}}, // flipped
		{5, [4]string{r, b, g, y}}, // transposed
		{6, [4]string{b, r, y, g}}, // turned 90° clockwise
		{7, [4]string{y, g, b, r}}, // transversed
		{8, [4]string{g, y, r, b}}, // turned 90° counter-clockwise
		{9, [4]string{r, g, b, y}}, // invalid: ignored
	}
	plain := encodeJPEG(t, quadrants())
	for _, tt := range tests {
		for _, order := range []string{"II", "MM"} {
			out, info, err := Make(bytes.NewReader(withEXIF(plain, order, tt.o)), "image/jpeg", Limits{})
			require.NoError(t, err)
			want := Info{Width: 200, Height: 100, ThumbWidth: 200, ThumbHeight: 100}
			if swapsAxes(int(tt.o)) {
				want = Info{Width: 100, Height: 200, ThumbWidth: 100, ThumbHeight: 200}
			}
			require.Equal(t, want, info, "orientation %d %s", tt.o, order)
			m := decodeThumb(t, out)
			require.Equal(t, image.Pt(want.ThumbWidth, want.ThumbHeight), m.Bounds().Size())
			for i, at := range [4][2]float64{{0.25, 0.25}, {0.75, 0.25}, {0.25, 0.75}, {0.75, 0.75}} {
				requireColor(t, m, at[0], at[1], colors[tt.want[i]])
			}
		}
	}
}

func TestJPEGOrientationIgnoresMalformedMetadata(t *testing.T) {
	t.Parallel()

	good := withEXIF(encodeJPEG(t, quadrants()), "MM", 6)
	require.Equal(t, 6, jpegOrientation(good))

	exifAt := bytes.Index(good, []byte("Exif\x00\x00"))
	corrupt := func(at int, v ...byte) []byte {
		b := append([]byte{}, good...)
		copy(b[at:], v)
		return b
	}
	tests := map[string][]byte{
		"empty":                 nil,
		"not a jpeg":            []byte("\x89PNG\r\n\x1a\n"),
		"no exif":               encodeJPEG(t, quadrants()),
		"cut inside the exif":   good[:exifAt+20],
		"segment length 0":      corrupt(exifAt-2, 0, 0),
		"segment runs past end": corrupt(exifAt-2, 0xff, 0xff),
		"bad byte order":        corrupt(exifAt+6, 'X', 'X'),
		"bad tiff magic":        corrupt(exifAt+8, 0, 43),
		"ifd0 past the end":     corrupt(exifAt+10, 0x7f, 0xff, 0xff, 0xff),
		"orientation as LONG":   corrupt(exifAt+6+8+2+12+2, 0, 4),
		"orientation count 2":   corrupt(exifAt+6+8+2+12+4, 0, 0, 0, 2),
		"entry count too large": corrupt(exifAt+6+8, 0xff, 0xff),
	}
	for name, in := range tests {
		want := 1
		if name == "entry count too large" {
			want = 6 // the entries present are still read, and they are fine
		}
		require.Equal(t, want, jpegOrientation(in), name)
	}
}
