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

	"github.com/pictor/pictor/fault"
)

// ErrInvalidRecipe is matched (errors.Is) by every error that ParseRecipe, ParseWhen and
// Recipe.UnmarshalJSON return for bad input.
var ErrInvalidRecipe = fault.New(fault.Invalid, "invalid-recipe", "Invalid recipe", "invalid recipe")

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

// Allowed values of the enumerated fields that several steps or outputs share,
// comma-separated; an op's own lists (fits, rembgModels) live in its step file.
const (
	compassGravities = "center,north,south,east,west,northeast,northwest,southeast,southwest"
	resizeGravities  = compassGravities + ",smart,entropy"
	engines          = EngineClassic + "," + EngineSD
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
	parse, known := stepParsers[s.Op]
	if !known {
		errs.add(path+".op", "unknown op %q", name)
		return Step{}, false
	}
	s.Params = parse(o)
	if raw, ok := o.take("when"); ok {
		s.When = parseWhenValue(errs, path+".when", raw)
	}
	o.unknown()
	return s, errs.len() == before
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
