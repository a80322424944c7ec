//go:build ignore

// mkfixtures writes the WebP test fixtures. x/image has no WebP encoder, so
// it draws PNGs and converts them with cwebp (Debian package "webp"):
//
//	cd worker/thumbnail/testdata && go run mkfixtures.go
//
// The tests only read the .webp files; they never need cwebp.
package main

import (
	"image"
	"image/color"
	"image/png"
	"log"
	"os"
	"os/exec"
	"path/filepath"
)

func main() {
	dir, err := os.MkdirTemp("", "mkfixtures")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// 640×480: the top quarter is a grey gradient (something for the
	// codec to work on), below it the left half is red, or transparent in
	// the alpha variant, and the right half blue. The tests check those
	// halves in the thumbnail.
	opaque := filepath.Join(dir, "opaque.png")
	alpha := filepath.Join(dir, "alpha.png")
	writePNG(opaque, draw(color.NRGBA{R: 255, A: 255}))
	writePNG(alpha, draw(color.NRGBA{}))

	cwebp("-q", "75", opaque, "-o", "lossy.webp")                         // VP8 chunk
	cwebp("-lossless", alpha, "-o", "lossless-alpha.webp")                // VP8L chunk
	cwebp("-q", "75", "-alpha_q", "100", alpha, "-o", "lossy-alpha.webp") // VP8X + ALPH + VP8
}

func draw(left color.NRGBA) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, 640, 480))
	for y := range 480 {
		for x := range 640 {
			switch {
			case y < 120:
				v := uint8(x * 255 / 639)
				m.SetNRGBA(x, y, color.NRGBA{v, v, v, 255})
			case x < 320:
				m.SetNRGBA(x, y, left)
			default:
				m.SetNRGBA(x, y, color.NRGBA{B: 255, A: 255})
			}
		}
	}
	return m
}

func writePNG(path string, m image.Image) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	if err := png.Encode(f, m); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

func cwebp(args ...string) {
	cmd := exec.Command("cwebp", append([]string{"-quiet", "-metadata", "none"}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		log.Fatalf("cwebp %v: %v", args, err)
	}
}
