//go:build ignore

// gen writes testdata/product.jpg: a 1600x1200 studio product shot (a rounded box with a
// label and a soft shadow on white), used by the README's curl session and by tests.
// Run: go run testdata/gen.go
package main

import (
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"os"
)

func main() {
	const w, h = 1600, 1200
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	cx, cy, rx, ry, r := 800.0, 600.0, 330.0, 420.0, 60.0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			px, py := float64(x), float64(y)
			// distance outside a rounded rectangle (negative inside)
			dx := math.Max(math.Abs(px-cx)-(rx-r), 0)
			dy := math.Max(math.Abs(py-cy)-(ry-r), 0)
			d := math.Hypot(dx, dy) - r
			c := color.RGBA{255, 255, 255, 255}
			// soft shadow below and right
			sdx := math.Max(math.Abs(px-cx-25)-(rx-r), 0)
			sdy := math.Max(math.Abs(py-cy-35)-(ry-r), 0)
			if sd := math.Hypot(sdx, sdy) - r; sd < 40 {
				k := uint8(255 - 40*math.Max(0, 1-math.Max(sd, 0)/40))
				c = color.RGBA{k, k, k, 255}
			}
			if d < 0 {
				shade := 1 - 0.25*(px-cx+rx)/(2*rx)
				c = color.RGBA{uint8(200 * shade), uint8(60 * shade), uint8(50 * shade), 255}
				if math.Abs(py-cy) < 90 && math.Abs(px-cx) < 220 {
					c = color.RGBA{245, 235, 210, 255}
					if int(px)/24%2 == 0 && math.Abs(py-cy) < 20 {
						c = color.RGBA{40, 40, 40, 255}
					}
				}
			}
			img.Set(x, y, c)
		}
	}
	f, err := os.Create("testdata/product.jpg")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	if err := jpeg.Encode(f, img, &jpeg.Options{Quality: 88}); err != nil {
		panic(err)
	}
}
