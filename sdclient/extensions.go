package sdclient

import (
	"context"
	"fmt"
)

// DefaultRembgModel is the rembg model sent when RembgRequest.Model is
// empty (an empty model makes the extension return null).
const DefaultRembgModel = "u2net"

// RembgModels returns the model names the rembg extension (rembg 2.0.50)
// accepts. The extension has no list endpoint and silently falls back to
// u2net on any other name (pitfall 9), so CheckNames checks against this
// list.
func RembgModels() []string {
	return []string{"u2net", "u2netp", "u2net_human_seg", "u2net_cloth_seg", "silueta", "isnet-general-use", "isnet-anime"}
}

// RembgRequest is a POST /rembg request (the rembg extension). The route
// is not covered by --api-auth and is not locked: it competes for VRAM
// with a running generation.
type RembgRequest struct {
	// Image is the input image (PNG or JPEG bytes); required.
	Image []byte
	// Model is a name from RembgModels, always sent; default "" sends
	// DefaultRembgModel.
	Model string
	// ReturnMask returns an L mask (white = foreground) instead of an RGBA
	// cutout; default false.
	ReturnMask bool
	// AlphaMatting refines the edge; default false.
	AlphaMatting bool
	// AlphaMattingForegroundThreshold is 0..255; default 0 leaves the
	// server's 240.
	AlphaMattingForegroundThreshold int
	// AlphaMattingBackgroundThreshold is 0..255; default 0 leaves the
	// server's 10.
	AlphaMattingBackgroundThreshold int
	// AlphaMattingErodeSize is in pixels; default 0 leaves the server's 10.
	AlphaMattingErodeSize int
}

type rembgWire struct {
	Image b64Image `json:"image"`
}

// Rembg runs POST /rembg and returns the PNG: an RGBA cutout, or the mask
// when ReturnMask is set. A backend without the extension gives
// ErrNotFound.
func (c *Client) Rembg(ctx context.Context, req RembgRequest) ([]byte, error) {
	if len(req.Image) == 0 {
		return nil, fmt.Errorf("sd %s: %w: no image", epRembg.name(), ErrBadRequest)
	}
	m := map[string]any{
		"input_image":   encodeImage(req.Image),
		"model":         orDefault(req.Model, DefaultRembgModel),
		"return_mask":   req.ReturnMask,
		"alpha_matting": req.AlphaMatting,
	}
	setIf(m, "alpha_matting_foreground_threshold", req.AlphaMattingForegroundThreshold)
	setIf(m, "alpha_matting_background_threshold", req.AlphaMattingBackgroundThreshold)
	setIf(m, "alpha_matting_erode_size", req.AlphaMattingErodeSize)
	var w rembgWire
	if err := c.call(ctx, epRembg, nil, m, &w); err != nil {
		return nil, err
	}
	if len(w.Image) == 0 {
		return nil, fmt.Errorf("sd %s: %w: response has no image", epRembg.name(), ErrBackend)
	}
	return w.Image, nil
}

// SAMRequest is a POST /sam/sam-predict request (the segment-anything
// extension). Give point prompts, or enable GroundingDINO with a text
// prompt.
type SAMRequest struct {
	// Image is the input image (PNG or JPEG bytes); required.
	Image []byte
	// Model is a SAM model file name; default "" leaves the server's
	// "sam_vit_h_4b8939.pth". An unknown one fails with a 500.
	Model string
	// PositivePoints are [x, y] pixel positions on the object; default
	// none.
	PositivePoints [][2]int
	// NegativePoints are [x, y] pixel positions off the object; default
	// none.
	NegativePoints [][2]int
	// DinoEnabled finds the object from DinoTextPrompt; default false.
	DinoEnabled bool
	// DinoModelName is the GroundingDINO model; default "" leaves the
	// server's "GroundingDINO_SwinT_OGC (694MB)".
	DinoModelName string
	// DinoTextPrompt describes the object, e.g. "shoe"; default "".
	DinoTextPrompt string
	// DinoBoxThreshold is the box confidence threshold; default 0 leaves
	// the server's 0.3.
	DinoBoxThreshold float64
	// DinoPreviewBoxesSelection selects DINO boxes by index; default none
	// (all boxes).
	DinoPreviewBoxesSelection []int
}

// SAMResponse is the answer of sam-predict. When nothing was found (no
// prompt, or no DINO box) the extension still answers 200 with only Msg:
// check Found.
type SAMResponse struct {
	// Msg is the extension's message.
	Msg string
	// BlendedImages are the masks overlaid on the input.
	BlendedImages [][]byte
	// Masks are 1-bit PNG masks, white = object, not ranked by score.
	Masks [][]byte
	// MaskedImages are RGBA cutouts.
	MaskedImages [][]byte
}

// Found reports whether the response holds any mask.
func (r *SAMResponse) Found() bool { return len(r.Masks) > 0 }

type samWire struct {
	Msg           string     `json:"msg"`
	BlendedImages []b64Image `json:"blended_images"`
	Masks         []b64Image `json:"masks"`
	MaskedImages  []b64Image `json:"masked_images"`
}

// SAMPredict runs POST /sam/sam-predict. A backend without the extension
// gives ErrNotFound.
func (c *Client) SAMPredict(ctx context.Context, req SAMRequest) (*SAMResponse, error) {
	if len(req.Image) == 0 {
		return nil, fmt.Errorf("sd %s: %w: no image", epSAMPredict.name(), ErrBadRequest)
	}
	m := map[string]any{"input_image": encodeImage(req.Image)}
	if req.Model != "" {
		m["sam_model_name"] = req.Model
	}
	if len(req.PositivePoints) > 0 {
		m["sam_positive_points"] = req.PositivePoints
	}
	if len(req.NegativePoints) > 0 {
		m["sam_negative_points"] = req.NegativePoints
	}
	if req.DinoEnabled {
		m["dino_enabled"] = true
		if req.DinoModelName != "" {
			m["dino_model_name"] = req.DinoModelName
		}
		m["dino_text_prompt"] = req.DinoTextPrompt
		setIf(m, "dino_box_threshold", req.DinoBoxThreshold)
		if len(req.DinoPreviewBoxesSelection) > 0 {
			m["dino_preview_checkbox"] = true
			m["dino_preview_boxes_selection"] = req.DinoPreviewBoxesSelection
		}
	}
	var w samWire
	if err := c.call(ctx, epSAMPredict, nil, m, &w); err != nil {
		return nil, err
	}
	return &SAMResponse{
		Msg:           w.Msg,
		BlendedImages: imageList(w.BlendedImages),
		Masks:         imageList(w.Masks),
		MaskedImages:  imageList(w.MaskedImages),
	}, nil
}
