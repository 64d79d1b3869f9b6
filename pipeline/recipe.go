package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pictor/pictor/checks"
)

// ErrInvalidRecipe is matched (errors.Is) by every error that ParseRecipe, ParseWhen and
// Recipe.UnmarshalJSON return for bad input.
var ErrInvalidRecipe = errors.New("invalid recipe")

// Limits of a recipe. MaxRecipeBytes is the largest accepted JSON body (64 KiB).
const (
	// MaxRecipeBytes is the largest recipe body ParseRecipe accepts: 65536 bytes.
	MaxRecipeBytes = 64 << 10
	// MaxSteps is the largest number of steps in a recipe: 32. Zero steps are allowed.
	MaxSteps = 32
	// MaxOutputs is the largest number of outputs in a recipe: 8. At least one is required.
	MaxOutputs = 8
	// MaxFieldErrors is the most field errors a ValidationError carries: 20. When there are
	// more, the last entry says how many were left out.
	MaxFieldErrors = 20
	// MaxDimension is the largest width or height a step or output may ask for: 16384.
	MaxDimension = 16384
	// MaxPromptChars is the longest prompt or negative prompt, in characters: 2000.
	MaxPromptChars = 2000
)

// Engine names for the AI steps.
const (
	// EngineClassic runs the step in-process with libvips; it is the default engine.
	EngineClassic = "classic"
	// EngineSD runs the step on a Stable Diffusion WebUI backend.
	EngineSD = "sd"
)

// FieldError is one problem with one field of a recipe. Field is a path such as
// "steps[2].width", "outputs[0].format" or "steps[1].op"; it is "" for the body as a whole.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error returns "field: message", or the message alone when Field is "".
func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// ValidationError lists every field error found in a recipe (at most MaxFieldErrors).
// errors.Is(err, ErrInvalidRecipe) is true for it.
type ValidationError struct {
	Errors []FieldError `json:"errors"`
}

// Error joins the field errors with "; ", e.g. "steps[2].widht: unknown field; outputs: required".
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.Error()
	}
	if len(parts) == 0 {
		return ErrInvalidRecipe.Error()
	}
	return strings.Join(parts, "; ")
}

// Is reports whether target is ErrInvalidRecipe.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidRecipe }

// MaskOutput names the mask a remove_background step with store_mask keeps.
const MaskOutput = "mask"

// Op names an operation of a recipe step.
type Op string

// The operations a step can name.
const (
	// OpAutoOrient rotates the image upright from its EXIF orientation. Params: *AutoOrientParams.
	OpAutoOrient Op = "auto_orient"
	// OpResize scales the image into a box. Params: *ResizeParams.
	OpResize Op = "resize"
	// OpCrop cuts a rectangle out of the image. Params: *CropParams.
	OpCrop Op = "crop"
	// OpTrim removes a plain border. Params: *TrimParams.
	OpTrim Op = "trim"
	// OpPad adds a coloured border. Params: *PadParams.
	OpPad Op = "pad"
	// OpRotate rotates by an angle. Params: *RotateParams.
	OpRotate Op = "rotate"
	// OpFlip mirrors the image. Params: *FlipParams.
	OpFlip Op = "flip"
	// OpBlur applies a gaussian blur. Params: *BlurParams.
	OpBlur Op = "blur"
	// OpSharpen sharpens the image. Params: *SharpenParams.
	OpSharpen Op = "sharpen"
	// OpBackground flattens transparency onto a colour. Params: *BackgroundParams.
	OpBackground Op = "background"
	// OpComposite overlays another stored image (a watermark). Params: *CompositeParams.
	OpComposite Op = "composite"
	// OpStrip removes metadata. Params: *StripParams.
	OpStrip Op = "strip"
	// OpUpscale enlarges the image (classic Lanczos or a WebUI upscaler). Params: *UpscaleParams.
	OpUpscale Op = "upscale"
	// OpRemoveBackground makes the background transparent. Params: *RemoveBackgroundParams.
	OpRemoveBackground Op = "remove_background"
	// OpReplaceBackground puts a colour, a stored image or a generated scene behind the product.
	// Params: *ReplaceBackgroundParams.
	OpReplaceBackground Op = "replace_background"
)

// Recipe is a parsed, validated recipe with every default filled in. Build it with
// ParseRecipe; its canonical form is what Hash hashes.
type Recipe struct {
	// Steps run in order; there may be none (0..MaxSteps).
	Steps []Step
	// Outputs are the named renditions encoded from the result (1..MaxOutputs, unique names).
	Outputs []Output
	// Checks override the default thresholds of the output checks (see package checks)
	// for every output; default nil (the defaults).
	Checks *checks.Thresholds
}

// Step is one operation of a recipe.
type Step struct {
	// Op names the operation.
	Op Op
	// When is the condition under which the step runs; nil (the default) means always.
	When *When
	// Params points to the op's parameter struct, e.g. *ResizeParams for OpResize and
	// *AutoOrientParams for OpAutoOrient. Never nil in a parsed recipe.
	Params any
}

// AutoOrientParams are the (no) parameters of auto_orient.
type AutoOrientParams struct{}

// StripParams are the (no) parameters of strip.
type StripParams struct{}

// ResizeParams are the parameters of resize, and of an output's resize.
type ResizeParams struct {
	// Width of the box in pixels, 0..16384; 0 (the default) means from the aspect ratio.
	// At least one of Width and Height is > 0.
	Width int `json:"width"`
	// Height of the box in pixels, 0..16384; 0 (the default) means from the aspect ratio.
	Height int `json:"height"`
	// Fit is how the image meets the box: cover (default), contain, fill, inside or outside.
	Fit string `json:"fit"`
	// Gravity anchors the crop of cover: center (default), north, south, east, west,
	// northeast, northwest, southeast, southwest, smart or entropy.
	Gravity string `json:"gravity"`
	// Background is the letterbox colour of contain, as "#rrggbbaa"; default "#ffffffff".
	Background string `json:"background"`
	// WithoutEnlargement never makes the image larger; default false.
	WithoutEnlargement bool `json:"without_enlargement"`
}

// CropParams are the parameters of crop.
type CropParams struct {
	// X is the left edge in pixels, >= 0; default 0. Must be 0 when Gravity is set.
	X int `json:"x"`
	// Y is the top edge in pixels, >= 0; default 0. Must be 0 when Gravity is set.
	Y int `json:"y"`
	// Width of the crop in pixels, 1..16384; required.
	Width int `json:"width"`
	// Height of the crop in pixels, 1..16384; required.
	Height int `json:"height"`
	// Gravity, when set, places the crop by gravity instead of X/Y (same values as
	// ResizeParams.Gravity); default "" (crop at X, Y).
	Gravity string `json:"gravity"`
}

// TrimParams are the parameters of trim.
type TrimParams struct {
	// Threshold is how far from the border colour a pixel may be and still be trimmed,
	// 0..255; default 10.
	Threshold float64 `json:"threshold"`
}

// PadParams are the parameters of pad. At least one side is > 0.
type PadParams struct {
	// Top border in pixels, 0..4096; default 0.
	Top int `json:"top"`
	// Right border in pixels, 0..4096; default 0.
	Right int `json:"right"`
	// Bottom border in pixels, 0..4096; default 0.
	Bottom int `json:"bottom"`
	// Left border in pixels, 0..4096; default 0.
	Left int `json:"left"`
	// Color of the border as "#rrggbbaa"; default "#ffffffff".
	Color string `json:"color"`
}

// RotateParams are the parameters of rotate.
type RotateParams struct {
	// Angle in degrees clockwise, -360..360, non-zero; required.
	Angle float64 `json:"angle"`
	// Background fills the corners uncovered by a non-right angle, as "#rrggbbaa";
	// default "#ffffffff".
	Background string `json:"background"`
}

// FlipParams are the parameters of flip. At least one of them is true.
type FlipParams struct {
	// Horizontal mirrors left to right; default false.
	Horizontal bool `json:"horizontal"`
	// Vertical mirrors top to bottom; default false.
	Vertical bool `json:"vertical"`
}

// BlurParams are the parameters of blur.
type BlurParams struct {
	// Sigma of the gaussian, 0.3..100; required.
	Sigma float64 `json:"sigma"`
}

// SharpenParams are the parameters of sharpen.
type SharpenParams struct {
	// Sigma of the sharpening mask, 0.3..10; default 1.
	Sigma float64 `json:"sigma"`
}

// BackgroundParams are the parameters of background.
type BackgroundParams struct {
	// Color to flatten onto, as "#rrggbbaa"; default "#ffffffff".
	Color string `json:"color"`
}

// CompositeParams are the parameters of composite.
type CompositeParams struct {
	// Image is the id or sha256 of a stored original to overlay, [a-z0-9-]{1,80}; required.
	Image string `json:"image"`
	// Gravity places the overlay: center, north, south, east, west, northeast, northwest,
	// southeast (default) or southwest.
	Gravity string `json:"gravity"`
	// OffsetX moves the overlay right (left when negative), -4096..4096; default 0.
	OffsetX int `json:"offset_x"`
	// OffsetY moves the overlay down (up when negative), -4096..4096; default 0.
	OffsetY int `json:"offset_y"`
	// Opacity of the overlay, 0..1; default 1.
	Opacity float64 `json:"opacity"`
}

// UpscaleParams are the parameters of upscale: either a Factor, or a target Width and/or Height.
type UpscaleParams struct {
	// Factor of enlargement, 1 < Factor <= 8; default 2. It is 0 when Width or Height is set.
	Factor float64 `json:"factor"`
	// Width to reach in pixels, 0..16384; default 0 (use Factor).
	Width int `json:"width"`
	// Height to reach in pixels, 0..16384; default 0 (use Factor).
	Height int `json:"height"`
	// Engine is classic (default: libvips Lanczos plus sharpening) or sd (a WebUI upscaler).
	Engine string `json:"engine"`
	// Upscaler is the WebUI upscaler name used by engine sd; default "R-ESRGAN 4x+".
	Upscaler string `json:"upscaler"`
}

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

// ReplaceBackgroundParams are the parameters of replace_background. Exactly one of Color,
// Image and Prompt is set.
type ReplaceBackgroundParams struct {
	// Color is a plain new background, as "#rrggbbaa"; default "".
	Color string `json:"color,omitempty"`
	// Image is the id or sha256 of a stored original to put behind the product; default "".
	Image string `json:"image,omitempty"`
	// Prompt describes a scene that the WebUI paints around the product (at most 2000
	// characters); default "".
	Prompt string `json:"prompt,omitempty"`
	// NegativePrompt is what the scene must not show (at most 2000 characters); only with
	// Prompt; default "".
	NegativePrompt string `json:"negative_prompt,omitempty"`
	// Seed of the generation, 0..4294967295; only with Prompt; default nil (random, chosen
	// and recorded by the executor). A given seed is part of the recipe hash.
	Seed *int64 `json:"seed,omitempty"`
	// Steps is the number of sampling steps, 1..150; only with Prompt, where it defaults to 30.
	Steps int `json:"steps,omitempty"`
	// Strength is the denoising strength, 0..1; only with Prompt, where it defaults to 0.9.
	Strength float64 `json:"strength,omitempty"`
	// Engine is "sd" when Prompt is set and "classic" otherwise; it is derived, and an
	// explicit value must agree.
	Engine string `json:"engine"`
}

// MarshalJSON writes the prompt-only fields (negative_prompt, steps, strength, seed) only when
// Prompt is set, and writes them even when zero, so that the output parses back to p.
func (p ReplaceBackgroundParams) MarshalJSON() ([]byte, error) {
	m := map[string]any{"engine": p.Engine}
	if p.Color != "" {
		m["color"] = p.Color
	}
	if p.Image != "" {
		m["image"] = p.Image
	}
	if p.Prompt != "" {
		m["prompt"] = p.Prompt
		m["negative_prompt"] = p.NegativePrompt
		m["steps"] = p.Steps
		m["strength"] = p.Strength
		if p.Seed != nil {
			m["seed"] = *p.Seed
		}
	}
	return json.Marshal(m)
}

// Output is one named rendition of a recipe.
type Output struct {
	// Name identifies the rendition, ^[a-z0-9][a-z0-9_-]{0,31}$, unique in the recipe; required.
	Name string `json:"name"`
	// Format is jpeg (default; "jpg" is accepted as jpeg), png, webp, avif or auto (chosen from
	// the request's Accept header).
	Format string `json:"format"`
	// Quality of lossy encoding, 1..100; default 0 (the format's default).
	Quality int `json:"quality"`
	// Lossless asks webp, avif or auto for lossless encoding; not allowed with jpeg; default false.
	Lossless bool `json:"lossless"`
	// KeepICC keeps the ICC profile instead of converting to sRGB and stripping it; default false.
	KeepICC bool `json:"keep_icc"`
	// Resize, when set, resizes this output only (validated as the resize step); default nil.
	Resize *ResizeParams `json:"resize,omitempty"`
	// Checks override the recipe's check thresholds for this output, and set its
	// marketplace rules (background colour, product fill); default nil.
	Checks *checks.Thresholds `json:"checks,omitempty"`
}

// MarshalJSON writes the step as one flat object: "op", the op's params, and "when" if set.
func (s Step) MarshalJSON() ([]byte, error) {
	fields := map[string]json.RawMessage{}
	if s.Params != nil {
		b, err := json.Marshal(s.Params)
		if err != nil {
			return nil, fmt.Errorf("marshal %s params: %w", s.Op, err)
		}
		if err := json.Unmarshal(b, &fields); err != nil {
			return nil, fmt.Errorf("marshal %s params: %w", s.Op, err)
		}
	}
	op, err := json.Marshal(string(s.Op))
	if err != nil {
		return nil, fmt.Errorf("marshal op: %w", err)
	}
	fields["op"] = op
	if s.When != nil {
		w, err := json.Marshal(s.When)
		if err != nil {
			return nil, fmt.Errorf("marshal %s when: %w", s.Op, err)
		}
		fields["when"] = w
	}
	return json.Marshal(fields)
}

// canonical encodes r with sorted keys, no whitespace and no HTML escaping.
func (r *Recipe) canonical() ([]byte, error) {
	steps := r.Steps
	if steps == nil {
		steps = []Step{}
	}
	outputs := r.Outputs
	if outputs == nil {
		outputs = []Output{}
	}
	b, err := json.Marshal(struct {
		Steps   []Step             `json:"steps"`
		Outputs []Output           `json:"outputs"`
		Checks  *checks.Thresholds `json:"checks,omitempty"`
	}{steps, outputs, r.Checks})
	if err != nil {
		return nil, fmt.Errorf("marshal recipe: %w", err)
	}
	// Decoding into any and encoding again sorts the keys of every object, nested ones too;
	// json.Number keeps each number exactly as Go wrote it (shortest form: 2, not 2.0).
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("normalise recipe: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("normalise recipe: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Canonical returns the canonical JSON form of r: defaults filled, object keys sorted, no
// whitespace, numbers in shortest form, steps and outputs in their given order. It is stable
// across runs and ParseRecipe(Canonical()) yields the same Canonical. It panics if r holds a
// value JSON cannot encode (NaN or ±Inf), which ParseRecipe never produces.
func (r *Recipe) Canonical() []byte {
	b, err := r.canonical()
	if err != nil {
		panic("pipeline: canonical form of a recipe not built by ParseRecipe: " + err.Error())
	}
	return b
}

// Hash returns the first 32 lower-case hex digits of the sha256 of Canonical().
func (r *Recipe) Hash() string {
	sum := sha256.Sum256(r.Canonical())
	return hex.EncodeToString(sum[:])[:32]
}

// MarshalJSON returns the canonical form of r (see Canonical).
func (r *Recipe) MarshalJSON() ([]byte, error) { return r.canonical() }

// UnmarshalJSON parses data with ParseRecipe, so a Recipe embedded in a request body is
// validated as strictly as a stored one.
func (r *Recipe) UnmarshalJSON(data []byte) error {
	p, err := ParseRecipe(data)
	if err != nil {
		return err
	}
	*r = *p
	return nil
}

// Validate checks a recipe built in code by the same rules ParseRecipe applies to JSON; a nil
// error means the recipe is exactly as ParseRecipe would have produced it, defaults included.
func (r *Recipe) Validate() error {
	b, err := r.canonical()
	if err != nil {
		return &ValidationError{Errors: []FieldError{{Message: err.Error()}}}
	}
	p, err := ParseRecipe(b)
	if err != nil {
		return err
	}
	if c, _ := p.canonical(); !bytes.Equal(c, b) {
		return &ValidationError{Errors: []FieldError{{Message: "defaults not filled or values not normalised"}}}
	}
	return nil
}

// NeedsSD reports whether any step needs a Stable Diffusion WebUI backend: a step whose
// engine is "sd", or a replace_background with a prompt. Conditions are not considered.
func (r *Recipe) NeedsSD() bool {
	for _, s := range r.Steps {
		switch p := s.Params.(type) {
		case *UpscaleParams:
			if p.Engine == EngineSD {
				return true
			}
		case *RemoveBackgroundParams:
			if p.Engine == EngineSD {
				return true
			}
		case *ReplaceBackgroundParams:
			if p.Engine == EngineSD || p.Prompt != "" {
				return true
			}
		}
	}
	return false
}

// HasAIStep reports whether any step is AI-class, whose outputs are checked: upscale with
// engine sd, remove_background with any engine, replace_background. Conditions are not
// considered.
func (r *Recipe) HasAIStep() bool {
	for _, s := range r.Steps {
		switch p := s.Params.(type) {
		case *UpscaleParams:
			if p.Engine == EngineSD {
				return true
			}
		case *RemoveBackgroundParams, *ReplaceBackgroundParams:
			return true
		}
	}
	return false
}

// Generative reports whether a step paints new pixels from a prompt (replace_background
// with a prompt): such outputs go to the safety classifier.
func (r *Recipe) Generative() bool {
	for _, s := range r.Steps {
		if p, ok := s.Params.(*ReplaceBackgroundParams); ok && p.Prompt != "" {
			return true
		}
	}
	return false
}

// Thresholds returns the check thresholds for output name: the defaults, then the recipe's
// checks, then the output's.
func (r *Recipe) Thresholds(name string) checks.Thresholds {
	t := checks.DefaultThresholds().Over(r.Checks)
	if o, ok := r.Output(name); ok {
		t = t.Over(o.Checks)
	}
	return t
}

// Output returns the output called name, and whether there is one.
func (r *Recipe) Output(name string) (Output, bool) {
	for _, o := range r.Outputs {
		if o.Name == name {
			return o, true
		}
	}
	return Output{}, false
}

// ValidRecipeName reports whether name can name a stored recipe: ^[a-z0-9][a-z0-9._-]{0,63}$.
func ValidRecipeName(name string) bool {
	return validName(name, 64, "._-")
}

// validOutputName reports whether name matches ^[a-z0-9][a-z0-9_-]{0,31}$.
func validOutputName(name string) bool {
	return validName(name, 32, "_-")
}

// validImageRef reports whether ref matches ^[a-z0-9-]{1,80}$.
func validImageRef(ref string) bool {
	if ref == "" || len(ref) > 80 {
		return false
	}
	for i := 0; i < len(ref); i++ {
		if !isLowerAlnum(ref[i]) && ref[i] != '-' {
			return false
		}
	}
	return true
}

func validName(name string, maxLen int, extra string) bool {
	if name == "" || len(name) > maxLen || !isLowerAlnum(name[0]) {
		return false
	}
	for i := 1; i < len(name); i++ {
		if !isLowerAlnum(name[i]) && !strings.ContainsRune(extra, rune(name[i])) {
			return false
		}
	}
	return true
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// normalizeColor turns "#rgb", "#rrggbb", "#rrggbbaa" (any case), "white", "black" and
// "transparent" into lower-case "#rrggbbaa".
func normalizeColor(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "white":
		return "#ffffffff", true
	case "black":
		return "#000000ff", true
	case "transparent":
		return "#00000000", true
	}
	if len(s) == 0 || s[0] != '#' {
		return "", false
	}
	hexDigits := strings.ToLower(s[1:])
	for i := 0; i < len(hexDigits); i++ {
		c := hexDigits[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", false
		}
	}
	switch len(hexDigits) {
	case 3:
		var b strings.Builder
		b.WriteByte('#')
		for i := 0; i < 3; i++ {
			b.WriteByte(hexDigits[i])
			b.WriteByte(hexDigits[i])
		}
		b.WriteString("ff")
		return b.String(), true
	case 6:
		return "#" + hexDigits + "ff", true
	case 8:
		return "#" + hexDigits, true
	}
	return "", false
}

// Allowed values of the enumerated fields, comma-separated.
const (
	fits             = "cover,contain,fill,inside,outside"
	compassGravities = "center,north,south,east,west,northeast,northwest,southeast,southwest"
	resizeGravities  = compassGravities + ",smart,entropy"
	engines          = EngineClassic + "," + EngineSD
	rembgModels      = "u2net,u2netp,u2net_human_seg,u2net_cloth_seg,silueta,isnet-general-use,isnet-anime,sam"
	outputFormats    = "jpeg,jpg,png,webp,avif,auto"
)

// ParseRecipe parses and validates a recipe and fills its defaults. It is strict: unknown or
// duplicate fields, unknown ops, wrong types and out-of-range values are all errors. A bad
// recipe yields a *ValidationError naming each field (at most MaxFieldErrors), which matches
// ErrInvalidRecipe.
func ParseRecipe(data []byte) (*Recipe, error) {
	errs := &errList{}
	if len(data) > MaxRecipeBytes {
		errs.add("", "recipe is %d bytes, more than the limit of %d", len(data), MaxRecipeBytes)
		return nil, errs.err()
	}
	if !checkJSON(errs, data) {
		return nil, errs.err()
	}
	o, ok := newObject(errs, "", data)
	if !ok {
		return nil, errs.err()
	}
	r := &Recipe{Steps: []Step{}}
	if raw, ok := o.take("steps"); ok {
		if items, ok := o.array("steps", raw); ok {
			if len(items) > MaxSteps {
				errs.add("steps", "%d steps, at most %d allowed", len(items), MaxSteps)
			} else {
				for i, item := range items {
					if s, ok := parseStep(errs, fmt.Sprintf("steps[%d]", i), item); ok {
						r.Steps = append(r.Steps, s)
					}
				}
			}
		}
	}
	if raw, ok := o.take("outputs"); !ok {
		errs.add("outputs", "required")
	} else if items, ok := o.array("outputs", raw); ok {
		switch {
		case len(items) == 0:
			errs.add("outputs", "at least one output is required")
		case len(items) > MaxOutputs:
			errs.add("outputs", "%d outputs, at most %d allowed", len(items), MaxOutputs)
		default:
			seen := map[string]int{}
			for i, item := range items {
				path := fmt.Sprintf("outputs[%d]", i)
				out, ok := parseOutput(errs, path, item)
				if !ok {
					continue
				}
				if j, dup := seen[out.Name]; dup {
					errs.add(path+".name", "duplicate output name %q (also outputs[%d])", out.Name, j)
					continue
				}
				seen[out.Name] = i
				r.Outputs = append(r.Outputs, out)
			}
			// A stored mask is kept as an extra output named "mask": an output of that
			// name would be overwritten by it.
			if i, named := seen[MaskOutput]; named {
				for j, st := range r.Steps {
					if p, ok := st.Params.(*RemoveBackgroundParams); ok && p.StoreMask {
						errs.add(fmt.Sprintf("outputs[%d].name", i), "%q is the mask steps[%d] stores (store_mask); give this output another name", MaskOutput, j)
						break
					}
				}
			}
		}
	}
	if raw, ok := o.take("checks"); ok {
		r.Checks = parseChecks(errs, "checks", raw)
	}
	o.unknown()
	if err := errs.err(); err != nil {
		return nil, err
	}
	return r, nil
}

// parseChecks reads a "checks" object strictly: known threshold names, numbers in range, a
// valid colour (normalised).
func parseChecks(errs *errList, path string, raw json.RawMessage) *checks.Thresholds {
	if kind(raw) != '{' {
		errs.add(path, "must be an object, got %s", kindName(raw))
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var t checks.Thresholds
	if err := dec.Decode(&t); err != nil {
		errs.add(path, "%s", strings.TrimPrefix(err.Error(), "json: "))
		return nil
	}
	if err := t.Validate(); err != nil {
		for _, e := range strings.Split(err.Error(), "\n") {
			errs.add(path, "%s", strings.TrimSuffix(e, ": "+checks.ErrInvalidThreshold.Error()))
		}
		return nil
	}
	if t.BackgroundColor != nil {
		c, ok := normalizeColor(*t.BackgroundColor)
		if !ok {
			errs.add(path+".background_color", "must be a colour like #ffffff, got %q", *t.BackgroundColor)
			return nil
		}
		t.BackgroundColor = &c
	}
	return &t
}

func parseStep(errs *errList, path string, raw json.RawMessage) (Step, bool) {
	o, ok := newObject(errs, path, raw)
	if !ok {
		return Step{}, false
	}
	before := errs.len()
	opRaw, ok := o.take("op")
	if !ok {
		errs.add(path+".op", "required")
		return Step{}, false
	}
	var name string
	if err := json.Unmarshal(opRaw, &name); err != nil {
		errs.add(path+".op", "must be a string")
		return Step{}, false
	}
	s := Step{Op: Op(name)}
	switch s.Op {
	case OpAutoOrient:
		s.Params = &AutoOrientParams{}
	case OpStrip:
		s.Params = &StripParams{}
	case OpResize:
		s.Params = parseResize(o)
	case OpCrop:
		s.Params = parseCrop(o)
	case OpTrim:
		s.Params = &TrimParams{Threshold: o.floatIn("threshold", 10, 0, 255)}
	case OpPad:
		s.Params = parsePad(o)
	case OpRotate:
		s.Params = parseRotate(o)
	case OpFlip:
		s.Params = parseFlip(o)
	case OpBlur:
		p := &BlurParams{}
		if o.required("sigma") {
			p.Sigma = o.floatIn("sigma", 0, 0.3, 100)
		}
		s.Params = p
	case OpSharpen:
		s.Params = &SharpenParams{Sigma: o.floatIn("sigma", 1, 0.3, 10)}
	case OpBackground:
		s.Params = &BackgroundParams{Color: o.color("color", "#ffffffff")}
	case OpComposite:
		s.Params = parseComposite(o)
	case OpUpscale:
		s.Params = parseUpscale(o)
	case OpRemoveBackground:
		s.Params = &RemoveBackgroundParams{
			Engine:    o.enum("engine", EngineClassic, engines),
			Model:     o.enum("model", "u2net", rembgModels),
			StoreMask: o.boolean("store_mask", false),
			Threshold: o.floatIn("threshold", 0, 0, 255),
		}
	case OpReplaceBackground:
		s.Params = parseReplaceBackground(o)
	default:
		errs.add(path+".op", "unknown op %q", name)
		return Step{}, false
	}
	if raw, ok := o.take("when"); ok {
		s.When = parseWhenValue(errs, path+".when", raw)
	}
	o.unknown()
	return s, errs.len() == before
}

func parseResize(o *object) *ResizeParams {
	p := &ResizeParams{}
	var wOK, hOK bool
	p.Width, wOK = o.intIn("width", 0, 0, MaxDimension)
	p.Height, hOK = o.intIn("height", 0, 0, MaxDimension)
	p.Fit = o.enum("fit", "cover", fits)
	p.Gravity = o.enum("gravity", "center", resizeGravities)
	p.Background = o.color("background", "#ffffffff")
	p.WithoutEnlargement = o.boolean("without_enlargement", false)
	if wOK && hOK && p.Width == 0 && p.Height == 0 {
		o.errs.add(o.field("width"), "width or height is required (> 0)")
	}
	return p
}

func parseCrop(o *object) *CropParams {
	p := &CropParams{}
	p.X, _ = o.intIn("x", 0, 0, math.MaxInt32)
	p.Y, _ = o.intIn("y", 0, 0, math.MaxInt32)
	if o.required("width") {
		p.Width, _ = o.intIn("width", 0, 1, MaxDimension)
	}
	if o.required("height") {
		p.Height, _ = o.intIn("height", 0, 1, MaxDimension)
	}
	if g := o.str("gravity", ""); g != "" {
		p.Gravity = o.enum("gravity", "", resizeGravities)
	}
	if p.Gravity != "" {
		if p.X != 0 {
			o.errs.add(o.field("x"), "must be 0 when gravity is set")
		}
		if p.Y != 0 {
			o.errs.add(o.field("y"), "must be 0 when gravity is set")
		}
	}
	return p
}

func parsePad(o *object) *PadParams {
	p := &PadParams{}
	var ok [4]bool
	p.Top, ok[0] = o.intIn("top", 0, 0, 4096)
	p.Right, ok[1] = o.intIn("right", 0, 0, 4096)
	p.Bottom, ok[2] = o.intIn("bottom", 0, 0, 4096)
	p.Left, ok[3] = o.intIn("left", 0, 0, 4096)
	p.Color = o.color("color", "#ffffffff")
	if ok == [4]bool{true, true, true, true} && p.Top == 0 && p.Right == 0 && p.Bottom == 0 && p.Left == 0 {
		o.errs.add(o.path, "at least one of top, right, bottom, left must be > 0")
	}
	return p
}

func parseRotate(o *object) *RotateParams {
	p := &RotateParams{}
	if o.required("angle") {
		var ok bool
		p.Angle, ok = o.float("angle", 0, -360, 360)
		if ok && p.Angle == 0 {
			o.errs.add(o.field("angle"), "must not be 0")
		}
	}
	p.Background = o.color("background", "#ffffffff")
	return p
}

func parseFlip(o *object) *FlipParams {
	p := &FlipParams{}
	p.Horizontal = o.boolean("horizontal", false)
	p.Vertical = o.boolean("vertical", false)
	if !p.Horizontal && !p.Vertical && !o.failed("horizontal") && !o.failed("vertical") {
		o.errs.add(o.path, "at least one of horizontal, vertical must be true")
	}
	return p
}

func parseComposite(o *object) *CompositeParams {
	p := &CompositeParams{}
	if o.required("image") {
		p.Image = o.imageRef("image")
	}
	p.Gravity = o.enum("gravity", "southeast", compassGravities)
	p.OffsetX, _ = o.intIn("offset_x", 0, -4096, 4096)
	p.OffsetY, _ = o.intIn("offset_y", 0, -4096, 4096)
	p.Opacity = o.floatIn("opacity", 1, 0, 1)
	return p
}

func parseUpscale(o *object) *UpscaleParams {
	p := &UpscaleParams{}
	p.Width, _ = o.intIn("width", 0, 0, MaxDimension)
	p.Height, _ = o.intIn("height", 0, 0, MaxDimension)
	factor, present, ok := o.number("factor")
	switch {
	case !ok:
	case p.Width > 0 || p.Height > 0:
		if present && factor != 0 {
			o.errs.add(o.field("factor"), "must be omitted when width or height is set")
		}
	case !present:
		p.Factor = 2
	case factor <= 1 || factor > 8:
		o.errs.add(o.field("factor"), "must be greater than 1 and at most 8, got %s", fmtFloat(factor))
	default:
		p.Factor = factor
	}
	p.Engine = o.enum("engine", EngineClassic, engines)
	p.Upscaler = o.text("upscaler", "R-ESRGAN 4x+", 1, 128)
	return p
}

func parseReplaceBackground(o *object) *ReplaceBackgroundParams {
	p := &ReplaceBackgroundParams{}
	var set []string
	for _, name := range []string{"color", "image", "prompt"} {
		if o.has(name) {
			set = append(set, name)
		}
	}
	switch len(set) {
	case 0:
		o.errs.add(o.path, "exactly one of color, image, prompt is required")
	case 1:
	default:
		o.errs.add(o.field(set[1]), "only one of color, image, prompt may be set (%s is set too)", set[0])
	}
	if o.has("color") {
		p.Color = o.color("color", "")
	}
	if o.has("image") {
		p.Image = o.imageRef("image")
	}
	if o.has("prompt") {
		p.Prompt = o.text("prompt", "", 1, MaxPromptChars)
	}
	wantEngine := EngineClassic
	if o.has("prompt") {
		wantEngine = EngineSD
		p.NegativePrompt = o.text("negative_prompt", "", 0, MaxPromptChars)
		if o.has("seed") {
			if v, ok := o.int64In("seed", 0, 0, math.MaxUint32); ok {
				p.Seed = &v
			}
		}
		p.Steps, _ = o.intIn("steps", 30, 1, 150)
		p.Strength = o.floatIn("strength", 0.9, 0, 1)
	} else {
		for _, name := range []string{"negative_prompt", "seed", "steps", "strength"} {
			if o.has(name) {
				o.fail(name, "only allowed with prompt")
			}
		}
	}
	p.Engine = wantEngine
	if e := o.enum("engine", wantEngine, engines); !o.failed("engine") && e != wantEngine {
		if wantEngine == EngineSD {
			o.errs.add(o.field("engine"), "must be %q when prompt is set", EngineSD)
		} else {
			o.errs.add(o.field("engine"), "must be %q unless prompt is set", EngineClassic)
		}
	}
	return p
}

func parseOutput(errs *errList, path string, raw json.RawMessage) (Output, bool) {
	o, ok := newObject(errs, path, raw)
	if !ok {
		return Output{}, false
	}
	before := errs.len()
	out := Output{}
	if o.required("name") {
		out.Name = o.str("name", "")
		if !o.failed("name") && !validOutputName(out.Name) {
			errs.add(o.field("name"), "must match ^[a-z0-9][a-z0-9_-]{0,31}$, got %q", out.Name)
		}
	}
	out.Format = o.enum("format", "jpeg", outputFormats)
	if out.Format == "jpg" {
		out.Format = "jpeg"
	}
	q, present, ok := o.integer("quality")
	if ok && present && (q < 0 || q > 100) {
		errs.add(o.field("quality"), "must be between 1 and 100 (0 = format default), got %d", q)
	} else if ok {
		out.Quality = int(q)
	}
	out.Lossless = o.boolean("lossless", false)
	if out.Lossless && out.Format == "jpeg" {
		errs.add(o.field("lossless"), "not supported for jpeg")
	}
	out.KeepICC = o.boolean("keep_icc", false)
	if raw, ok := o.take("resize"); ok {
		if ro, ok := newObject(errs, o.field("resize"), raw); ok {
			out.Resize = parseResize(ro)
			ro.unknown()
		}
	}
	if raw, ok := o.take("checks"); ok {
		out.Checks = parseChecks(errs, o.field("checks"), raw)
	}
	o.unknown()
	return out, errs.len() == before
}

// errList collects field errors in the order they are found.
type errList struct {
	errs []FieldError
}

func (l *errList) add(field, format string, args ...any) {
	l.errs = append(l.errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (l *errList) len() int { return len(l.errs) }

func (l *errList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	errs := l.errs
	if len(errs) > MaxFieldErrors {
		more := len(errs) - (MaxFieldErrors - 1)
		errs = append(errs[:MaxFieldErrors-1:MaxFieldErrors-1], FieldError{Message: fmt.Sprintf("%d more errors not shown", more)})
	}
	return &ValidationError{Errors: errs}
}

// checkJSON records a body-level error when data is not one well-formed JSON value.
func checkJSON(errs *errList, data []byte) bool {
	if json.Valid(data) {
		return true
	}
	var v any
	err := json.Unmarshal(data, &v)
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		errs.add("", "invalid JSON at byte %d: %v", syn.Offset, syn)
	case err != nil:
		errs.add("", "invalid JSON: %v", err)
	default:
		errs.add("", "invalid JSON")
	}
	return false
}

// object is a JSON object being validated field by field. Every field read is marked used;
// unknown reports the rest.
type object struct {
	errs *errList
	path string
	keys []string
	vals map[string]json.RawMessage
	used map[string]bool
	bad  map[string]bool
}

// newObject splits raw (well-formed JSON) into its fields, recording an error when raw is
// not an object or repeats a key.
func newObject(errs *errList, path string, raw json.RawMessage) (*object, bool) {
	o := &object{errs: errs, path: path, vals: map[string]json.RawMessage{}, used: map[string]bool{}, bad: map[string]bool{}}
	if kind(raw) != '{' {
		errs.add(path, "must be an object, got %s", kindName(raw))
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		errs.add(path, "must be an object")
		return nil, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			errs.add(path, "must be an object")
			return nil, false
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			errs.add(path, "must be an object")
			return nil, false
		}
		if _, dup := o.vals[key]; dup {
			errs.add(o.field(key), "duplicate field")
			continue
		}
		o.keys = append(o.keys, key)
		o.vals[key] = v
	}
	return o, true
}

func (o *object) field(name string) string {
	if o.path == "" {
		return name
	}
	return o.path + "." + name
}

// has reports whether the field is present and not null; a present field (null too) is
// marked used, since only known fields are asked about.
func (o *object) has(name string) bool {
	v, ok := o.vals[name]
	if ok {
		o.used[name] = true
	}
	return ok && kind(v) != 'n'
}

// take marks the field used and returns its value; a null value counts as absent.
func (o *object) take(name string) (json.RawMessage, bool) {
	v, ok := o.vals[name]
	if !ok {
		return nil, false
	}
	o.used[name] = true
	if kind(v) == 'n' {
		return nil, false
	}
	return v, true
}

// fail records an error for the field and remembers that it failed.
func (o *object) fail(name, format string, args ...any) {
	o.bad[name] = true
	o.errs.add(o.field(name), format, args...)
}

// failed reports whether an error was recorded for the field.
func (o *object) failed(name string) bool { return o.bad[name] }

func (o *object) required(name string) bool {
	if !o.has(name) {
		o.fail(name, "required")
		return false
	}
	return true
}

// unknown records every field that no parser read, in document order.
func (o *object) unknown() {
	for _, k := range o.keys {
		if !o.used[k] {
			o.errs.add(o.field(k), "unknown field")
		}
	}
}

func (o *object) array(name string, raw json.RawMessage) ([]json.RawMessage, bool) {
	if kind(raw) != '[' {
		o.fail(name, "must be an array, got %s", kindName(raw))
		return nil, false
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		o.fail(name, "must be an array")
		return nil, false
	}
	return items, true
}

// number reads a JSON number. ok is false when an error was recorded.
func (o *object) number(name string) (v float64, present, ok bool) {
	raw, present := o.take(name)
	if !present {
		return 0, false, true
	}
	if kind(raw) != '0' {
		o.fail(name, "must be a number, got %s", kindName(raw))
		return 0, true, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		o.fail(name, "must be a number")
		return 0, true, false
	}
	return f, true, true
}

// integer reads a JSON number with no fractional part (2 and 2.0 are both 2). Integers
// beyond int64 come back as math.MinInt64 or math.MaxInt64, for the caller's range check.
func (o *object) integer(name string) (v int64, present, ok bool) {
	raw, present := o.take(name)
	if !present {
		return 0, false, true
	}
	if kind(raw) != '0' {
		o.fail(name, "must be an integer, got %s", kindName(raw))
		return 0, true, false
	}
	if i, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return i, true, true
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange):
		o.fail(name, "must be an integer")
		return 0, true, false
	case f != math.Trunc(f):
		o.fail(name, "must be an integer, got %s", raw)
		return 0, true, false
	case f >= math.MaxInt64:
		return math.MaxInt64, true, true
	case f <= math.MinInt64:
		return math.MinInt64, true, true
	}
	return int64(f), true, true
}

func (o *object) int64In(name string, def, lo, hi int64) (int64, bool) {
	v, present, ok := o.integer(name)
	if !ok {
		return def, false
	}
	if !present {
		return def, true
	}
	if v < lo || v > hi {
		o.fail(name, "must be between %d and %d, got %s", lo, hi, fmtInt(v))
		return def, false
	}
	return v, true
}

func (o *object) intIn(name string, def, lo, hi int) (int, bool) {
	v, ok := o.int64In(name, int64(def), int64(lo), int64(hi))
	return int(v), ok
}

func (o *object) float(name string, def, lo, hi float64) (float64, bool) {
	v, present, ok := o.number(name)
	if !ok {
		return def, false
	}
	if !present {
		return def, true
	}
	if !(v >= lo && v <= hi) {
		o.fail(name, "must be between %s and %s, got %s", fmtFloat(lo), fmtFloat(hi), fmtFloat(v))
		return def, false
	}
	return v, true
}

func (o *object) floatIn(name string, def, lo, hi float64) float64 {
	v, _ := o.float(name, def, lo, hi)
	return v
}

func (o *object) boolean(name string, def bool) bool {
	raw, present := o.take(name)
	if !present {
		return def
	}
	switch string(raw) {
	case "true":
		return true
	case "false":
		return false
	}
	o.fail(name, "must be true or false, got %s", kindName(raw))
	return def
}

// str reads a JSON string; on error it records it and returns def.
func (o *object) str(name, def string) string {
	raw, present := o.take(name)
	if !present {
		return def
	}
	var s string
	if kind(raw) != '"' || json.Unmarshal(raw, &s) != nil {
		o.fail(name, "must be a string, got %s", kindName(raw))
		return def
	}
	return s
}

// text reads a string of minChars..maxChars characters with no control characters other
// than tab and newline.
func (o *object) text(name, def string, minChars, maxChars int) string {
	s := o.str(name, def)
	if o.failed(name) || !o.has(name) {
		return s
	}
	n := utf8.RuneCountInString(s)
	switch {
	case n < minChars && minChars == 1:
		o.fail(name, "must not be empty")
		return def
	case n < minChars || n > maxChars:
		o.fail(name, "must be %d to %d characters, got %d", minChars, maxChars, n)
		return def
	}
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			o.fail(name, "must not contain control characters")
			return def
		}
	}
	return s
}

// enum reads a string that must be one of allowed (comma-separated).
func (o *object) enum(name, def, allowed string) string {
	s := o.str(name, def)
	if o.failed(name) {
		return def
	}
	if !slices.Contains(strings.Split(allowed, ","), s) {
		o.fail(name, "must be one of %s, got %q", strings.ReplaceAll(allowed, ",", ", "), s)
		return def
	}
	return s
}

func (o *object) color(name, def string) string {
	s := o.str(name, def)
	if o.failed(name) || !o.has(name) {
		return s
	}
	c, ok := normalizeColor(s)
	if !ok {
		o.fail(name, "must be a colour as #rgb, #rrggbb, #rrggbbaa, white, black or transparent, got %q", s)
		return def
	}
	return c
}

func (o *object) imageRef(name string) string {
	s := o.str(name, "")
	if o.failed(name) {
		return ""
	}
	if !validImageRef(s) {
		o.fail(name, "must be an image id or sha256 matching ^[a-z0-9-]{1,80}$, got %q", s)
		return ""
	}
	return s
}

// kind returns the first byte that tells a JSON value's type: '{', '[', '"', 't', 'f', 'n',
// or '0' for a number.
func kind(raw json.RawMessage) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	if c := raw[0]; c == '-' || c >= '0' && c <= '9' {
		return '0'
	}
	return raw[0]
}

func kindName(raw json.RawMessage) string {
	switch kind(raw) {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '0':
		return "number"
	}
	return "nothing"
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func fmtInt(i int64) string {
	switch i {
	case math.MaxInt64:
		return "a larger number"
	case math.MinInt64:
		return "a smaller number"
	}
	return strconv.FormatInt(i, 10)
}
