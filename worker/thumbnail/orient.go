package thumbnail

import (
	"bytes"
	"encoding/binary"
	"image"
)

// jpegOrientation returns the EXIF orientation (1 to 8) recorded in the
// JPEG whose first bytes are b, or 1 when there is none or it cannot be
// read. It walks the marker segments up to the start of scan and reads tag
// 0x0112 from IFD0 of the first "Exif" APP1 segment; anything malformed
// means "no orientation", never an error, because a photo is still worth a
// thumbnail when its metadata is broken.
func jpegOrientation(b []byte) int {
	if len(b) < 2 || b[0] != 0xff || b[1] != 0xd8 {
		return 1
	}
	b = b[2:]
	for len(b) >= 4 && b[0] == 0xff {
		marker := b[1]
		switch {
		case marker == 0xff: // fill byte before a marker
			b = b[1:]
			continue
		case marker == 0xda || marker == 0xd9: // SOS, EOI: no more metadata
			return 1
		case marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7): // no length
			b = b[2:]
			continue
		}
		n := int(b[2])<<8 | int(b[3]) // segment length, counting itself
		if n < 2 || len(b) < 2+n {
			return 1
		}
		if seg := b[4 : 2+n]; marker == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return exifOrientation(seg[6:])
		}
		b = b[2+n:]
	}
	return 1
}

// exifOrientation reads the orientation tag from IFD0 of the TIFF
// structure t, or returns 1.
func exifOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(t[2:]) != 42 {
		return 1
	}
	off := uint64(bo.Uint32(t[4:]))
	if off+2 > uint64(len(t)) {
		return 1
	}
	count := int(bo.Uint16(t[off:]))
	entries := t[off+2:]
	for i := 0; i < count && len(entries) >= 12; i++ {
		e := entries[:12]
		entries = entries[12:]
		if bo.Uint16(e) != 0x0112 {
			continue
		}
		// One SHORT (type 3), stored in the first two bytes of the value.
		if bo.Uint16(e[2:]) != 3 || bo.Uint32(e[4:]) != 1 {
			return 1
		}
		if v := int(bo.Uint16(e[8:])); v >= 1 && v <= 8 {
			return v
		}
		return 1
	}
	return 1
}

// swapsAxes reports whether EXIF orientation o turns the image a quarter
// turn, so that the displayed width is the stored height.
func swapsAxes(o int) bool { return o >= 5 && o <= 8 }

// orient returns src transformed from stored to displayed orientation,
// following EXIF orientation o: 2 mirrors, 3 turns 180°, 4 flips, 5
// transposes, 6 turns 90° clockwise, 7 transverses, 8 turns 90°
// counter-clockwise. Other values return src unchanged. It runs on the
// thumbnail, after scaling, where it costs a few hundred kilobytes of
// copying at most.
func orient(src *image.RGBA, o int) *image.RGBA {
	if o < 2 || o > 8 {
		return src
	}
	w, h := src.Rect.Dx(), src.Rect.Dy()
	dw, dh := w, h
	if swapsAxes(o) {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := range h {
		for x := range w {
			var dx, dy int
			switch o {
			case 2:
				dx, dy = w-1-x, y
			case 3:
				dx, dy = w-1-x, h-1-y
			case 4:
				dx, dy = x, h-1-y
			case 5:
				dx, dy = y, x
			case 6:
				dx, dy = h-1-y, x
			case 7:
				dx, dy = h-1-y, w-1-x
			case 8:
				dx, dy = y, w-1-x
			}
			s := src.PixOffset(src.Rect.Min.X+x, src.Rect.Min.Y+y)
			d := dst.PixOffset(dx, dy)
			copy(dst.Pix[d:d+4], src.Pix[s:s+4])
		}
	}
	return dst
}
