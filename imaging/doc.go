// Package imaging decodes, transforms and encodes images with libvips (through
// govips). It is a leaf: it imports no other package of Pictor.
//
// Lifecycle: call Startup once from main (tests: TestMain) and Shutdown last. Run
// every pipeline behind a Gate, which bounds libvips concurrency and queueing.
//
// A pipeline is Probe (header only) or Load (header checks, shrink-on-load), then
// operations that mutate the Image in place, then Encode; Close every Image:
//
//	im, err := imaging.Load(data, imaging.LoadOptions{MaxPixels: 50e6, ShrinkTo: imaging.Size{Width: 800, Height: 800}})
//	if err != nil { ... }
//	defer im.Close()
//	_ = im.AutoOrient()
//	_ = im.ToSRGB()
//	_ = im.Resize(imaging.ResizeOptions{Width: 800, Height: 800, Fit: imaging.FitInside})
//	out, err := im.Encode(imaging.EncodeOptions{Format: imaging.WebP})
//
// Errors wrap the sentinels ErrTooManyPixels, ErrUnsupportedFormat, ErrCorrupt,
// ErrInvalidOption, ErrBusy and ErrClosed (a Gate closed as the process stops).
// libvips decodes lazily: a truncated source is reported by the first call that
// reads pixels (Encode, Trim, Sharpness, PlainBackground, smart crops), as ErrCorrupt.
//
// Test images are made by testdata/gen.go:
//
//go:generate go run testdata/gen.go
package imaging
