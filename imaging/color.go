package imaging

import (
	"fmt"
	"strconv"
	"strings"
)

// Color is an 8-bit sRGB colour with alpha; A=255 is opaque. The zero value is
// transparent black.
type Color struct {
	R, G, B, A uint8
}

// Opaque reports whether c has full alpha.
func (c Color) Opaque() bool { return c.A == 255 }

// String returns c as "#rrggbbaa".
func (c Color) String() string {
	return fmt.Sprintf("#%02x%02x%02x%02x", c.R, c.G, c.B, c.A)
}

// ParseColor parses "#rgb", "#rrggbb", "#rrggbbaa" (the leading # is optional),
// "transparent", "white" and "black", case-insensitively. Colours without alpha are
// opaque. Anything else wraps ErrInvalidOption.
func ParseColor(s string) (Color, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	switch v {
	case "transparent":
		return Color{}, nil
	case "white":
		return Color{R: 255, G: 255, B: 255, A: 255}, nil
	case "black":
		return Color{A: 255}, nil
	}
	hex := strings.TrimPrefix(v, "#")
	if hex == "" || strings.ContainsAny(hex, "+-") {
		return Color{}, invalid("color %q", s)
	}
	n, err := strconv.ParseUint(hex, 16, 32)
	if err != nil {
		return Color{}, invalid("color %q", s)
	}
	switch len(hex) {
	case 3:
		r, g, b := uint8(n>>8&0xf), uint8(n>>4&0xf), uint8(n&0xf)
		return Color{R: r<<4 | r, G: g<<4 | g, B: b<<4 | b, A: 255}, nil
	case 6:
		return Color{R: uint8(n >> 16), G: uint8(n >> 8), B: uint8(n), A: 255}, nil
	case 8:
		return Color{R: uint8(n >> 24), G: uint8(n >> 16), B: uint8(n >> 8), A: uint8(n)}, nil
	}
	return Color{}, invalid("color %q", s)
}
