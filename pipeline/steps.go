package pipeline

import (
	"fmt"

	"github.com/pictor/pictor/imaging"
)

// Each op lives in its own file, step_<op>.go (auto_orient, rotate and flip share
// step_orient.go; blur and sharpen step_blur_sharpen.go): its params type, parseXxx, which
// reads the params from the step object, and the params' run method, which does the work.
// Adding an op means such a file, an Op constant and a row in stepParsers; its cost goes in
// cost.go.

// stepParsers reads each op's params from its step object, filling defaults and recording
// what is wrong in the object's error list. An op that is not here is unknown to ParseRecipe.
var stepParsers = map[Op]func(o *object) any{
	OpAutoOrient:        parser(parseAutoOrient),
	OpResize:            parser(parseResize),
	OpCrop:              parser(parseCrop),
	OpTrim:              parser(parseTrim),
	OpPad:               parser(parsePad),
	OpRotate:            parser(parseRotate),
	OpFlip:              parser(parseFlip),
	OpBlur:              parser(parseBlur),
	OpSharpen:           parser(parseSharpen),
	OpBackground:        parser(parseBackground),
	OpComposite:         parser(parseComposite),
	OpStrip:             parser(parseStrip),
	OpUpscale:           parser(parseUpscale),
	OpRemoveBackground:  parser(parseRemoveBackground),
	OpReplaceBackground: parser(parseReplaceBackground),
}

// parser adapts an op's parse function to the stepParsers table.
func parser[P any](parse func(o *object) *P) func(o *object) any {
	return func(o *object) any { return parse(o) }
}

// stepRunner is what every op's params type (as a pointer) does: run the op on the
// Context's image.
type stepRunner interface {
	run(c *Context) error
}

// stepFunc turns a parsed step into the function that runs it.
func stepFunc(st Step) (StepFunc, error) {
	if p, ok := st.Params.(stepRunner); ok {
		return p.run, nil
	}
	return nil, fmt.Errorf("unknown op %q: %w", st.Op, ErrNotImplemented)
}

// loadOther decodes another stored image (a composite overlay, an image background),
// upright; it fails with ErrNotImplemented when Env.LoadImage is nil.
func loadOther(c *Context, id string) (*imaging.Image, error) {
	if c.Env.LoadImage == nil {
		return nil, fmt.Errorf("loading stored image %s: %w", id, ErrNotImplemented)
	}
	data, err := c.Env.LoadImage(c.Ctx, id)
	if err != nil {
		return nil, fmt.Errorf("load image %s: %w", id, err)
	}
	im, err := imaging.Load(data, imaging.LoadOptions{MaxPixels: c.Env.MaxPixels})
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", id, err)
	}
	if err := im.AutoOrient(); err != nil {
		im.Close()
		return nil, err
	}
	return im, nil
}
