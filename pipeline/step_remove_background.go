package pipeline

import (
	"context"
	"fmt"
	"image"

	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/sdclient"
)

// RemoveBackgroundParams are the parameters of remove_background.
type RemoveBackgroundParams struct {
	// Engine is classic (default: plain-background matting done here) or sd (rembg or
	// segment-anything on the WebUI).
	Engine string `json:"engine"`
	// Model is the segmentation model of engine sd: u2net (default), u2netp, u2net_human_seg,
	// u2net_cloth_seg, silueta, isnet-general-use, isnet-anime or sam.
	Model string `json:"model"`
	// StoreMask keeps the mask as an extra stored object, the output MaskOutput;
	// default false.
	StoreMask bool `json:"store_mask"`
	// Threshold of the classic matting, 0..255; default 0 (automatic).
	Threshold float64 `json:"threshold"`
}

// rembgModels are the allowed values of RemoveBackgroundParams.Model, comma-separated.
const rembgModels = "u2net,u2netp,u2net_human_seg,u2net_cloth_seg,silueta,isnet-general-use,isnet-anime,sam"

func parseRemoveBackground(o *object) *RemoveBackgroundParams {
	return &RemoveBackgroundParams{
		Engine:    o.enum("engine", EngineClassic, engines),
		Model:     o.enum("model", "u2net", rembgModels),
		StoreMask: o.boolean("store_mask", false),
		Threshold: o.floatIn("threshold", 0, 0, 255),
	}
}

func (p *RemoveBackgroundParams) run(c *Context) error { return removeBackground(c, p) }

// removeBackground cuts the product out: classic matting for plain backgrounds, or the
// WebUI's rembg / segment-anything. The working image becomes RGBA.
func removeBackground(c *Context, p *RemoveBackgroundParams) error {
	var mask *imaging.Image
	var px imaging.MattePixels // what the classic matte has in memory, for the checks
	var err error
	if p.Engine == EngineSD {
		mask, err = sdMask(c, p)
	} else {
		mask, px, err = c.Image.MatteSource(imaging.MatteOptions{Threshold: p.Threshold})
	}
	if err != nil {
		return err
	}
	defer mask.Close()
	if err := c.probeMaskOf(mask, p.Engine == EngineSD, px); err != nil {
		return err
	}
	if p.StoreMask {
		data, err := mask.Encode(imaging.EncodeOptions{Format: imaging.PNG})
		if err != nil {
			return err
		}
		c.extra = append(c.extra, Rendered{Output: MaskOutput, Format: imaging.PNG, Data: data, Width: mask.Width(), Height: mask.Height()})
	}
	return c.Image.ApplyMask(mask)
}

// sdMask asks the WebUI for a product mask (white = product).
func sdMask(c *Context, p *RemoveBackgroundParams) (*imaging.Image, error) {
	sd := c.Env.SD
	if sd == nil {
		return nil, ErrSDRequired
	}
	src, err := encodePNG(c.Image)
	if err != nil {
		return nil, err
	}
	w, h := c.Image.Width(), c.Image.Height()
	at := image.Pt(w/2, h/2) // the prompt: the product is where the shot is centred
	var out []byte
	var samMasks [][]byte
	onServer := sd.Rembg != nil && p.Model != "sam"
	if onServer {
		// rembg's standalone server: the same rembg models and masks, as a raw PNG.
		err = sd.doOn(c.Ctx, sd.Rembg, func(ctx context.Context, cl *sdclient.Client) error {
			if err := cl.CheckNames(ctx, sdclient.Names{RembgModel: p.Model}); err != nil {
				return err
			}
			m, err := cl.RemoveBackground(ctx, sdclient.RemoveRequest{Image: src, Model: p.Model, OnlyMask: true})
			out = m
			return err
		})
	} else {
		err = sd.do(c.Ctx, func(ctx context.Context, cl *sdclient.Client) error {
			if p.Model == "sam" {
				r, err := cl.SAMPredict(ctx, sdclient.SAMRequest{Image: src, PositivePoints: [][2]int{{at.X, at.Y}}})
				if err != nil {
					return err
				}
				if len(r.Masks) == 0 {
					return fmt.Errorf("segment-anything found no object: %w", imaging.ErrInvalidOption)
				}
				samMasks = r.Masks
				return nil
			}
			if err := cl.CheckNames(ctx, sdclient.Names{RembgModel: p.Model}); err != nil {
				return err
			}
			m, err := cl.Rembg(ctx, sdclient.RembgRequest{Image: src, Model: p.Model, ReturnMask: true})
			out = m
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("cut-out on backend: %w", err)
	}
	if samMasks != nil {
		mask, err := c.chooseSAMMask(samMasks, at)
		if err != nil {
			return nil, err
		}
		c.note("mask_model", p.Model)
		return mask, nil
	}
	mask, err := loadRembgMask(c, out)
	if err != nil {
		return nil, err
	}
	mw, mh := mask.Width(), mask.Height()
	switch {
	case mw == w && mh == h:
	case p.Model == clothSegModel && mw == w && mh == 3*h:
		union, err := clothSegUnion(mask, w, h)
		mask.Close()
		if err != nil {
			return nil, err
		}
		mask = union
		c.note("mask_classes", "upper,lower,full union")
	default:
		// rembg and segment-anything answer masks the input's size; anything else is
		// a backend we do not understand, and squashing it would cut the wrong pixels.
		mask.Close()
		return nil, fmt.Errorf("mask from backend (model %s): mask is %dx%d, image is %dx%d: %w", p.Model, mw, mh, w, h, sdclient.ErrBackend)
	}
	c.note("mask_model", p.Model)
	if onServer {
		c.note("mask_backend", "rembg server")
	}
	return mask, nil
}

// loadRembgMask decodes a rembg mask (return_mask, or the server's om): one L mask, or
// u2net_cloth_seg's class masks stacked by get_concat_v on an opaque RGBA canvas with
// the masks in the colour channels. The alpha says nothing, so it is dropped before
// the mask is read.
func loadRembgMask(c *Context, data []byte) (*imaging.Image, error) {
	mask, err := imaging.Load(data, imaging.LoadOptions{MaxPixels: c.Env.MaxPixels})
	if err != nil {
		return nil, fmt.Errorf("mask from backend: %w", err)
	}
	if mask.HasAlpha() {
		if err := mask.Flatten(imaging.Color{A: 255}); err != nil {
			mask.Close()
			return nil, err
		}
	}
	if err := mask.ToMask(); err != nil {
		mask.Close()
		return nil, err
	}
	return mask, nil
}

// clothSegModel is rembg's clothes segmentation model: it answers its three class
// masks (upper body, lower body, full body), each the input's size, stacked vertically
// on one canvas three times as tall.
const clothSegModel = "u2net_cloth_seg"

// clothSegUnion reads a u2net_cloth_seg answer, a one-band w x 3h mask, and returns the
// garment mask: the pixelwise maximum of its three w x h class masks.
func clothSegUnion(stack *imaging.Image, w, h int) (*imaging.Image, error) {
	_, _, pix, err := stack.Gray()
	if err != nil {
		return nil, fmt.Errorf("cloth segmentation mask: %w", err)
	}
	if len(pix) != w*3*h {
		return nil, fmt.Errorf("cloth segmentation mask: %d pixels, want %d: %w", len(pix), w*3*h, sdclient.ErrBackend)
	}
	n := w * h
	union := make([]byte, n)
	for i := range union {
		union[i] = max(pix[i], pix[n+i], pix[2*n+i])
	}
	out, err := imaging.NewImageFromGray(w, h, union)
	if err != nil {
		return nil, fmt.Errorf("cloth segmentation mask: %w", err)
	}
	return out, nil
}
