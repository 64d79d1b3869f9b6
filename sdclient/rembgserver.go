package sdclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Kind is the kind of backend a Client or Pool talks to.
type Kind int

// The backend kinds.
const (
	// KindWebUI is a Stable Diffusion WebUI (AUTOMATIC1111 or Forge), with
	// the rembg and segment-anything extensions when installed. It is the
	// zero value.
	KindWebUI Kind = iota
	// KindRembg is rembg's standalone HTTP server (`rembg s`): POST
	// /api/remove with a multipart file, answering a raw PNG.
	KindRembg
)

// String returns "webui" or "rembg", the kind metrics label.
func (k Kind) String() string {
	switch k {
	case KindWebUI:
		return "webui"
	case KindRembg:
		return "rembg"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// NewRembgClient returns a Client for a standalone rembg server (`rembg
// s`, default port 7000) at b. It serves only RemoveBackground,
// RembgServerInfo and CheckNames with a RembgModel; every WebUI method
// fails with ErrBadRequest. hc may be nil, as for NewClient. The server has
// no authentication of its own: credentials in b are sent as HTTP Basic,
// for a proxy in front of it.
func NewRembgClient(b Backend, hc *http.Client) *Client {
	return newClient(b, hc, KindRembg)
}

// RembgServerModels are the session names of rembg 2.0.77's server (its
// sessions_names, in its order), used when the server's /openapi.json does not list
// them. The server answers 422 for a name its model pattern does not match
// and a bare 500 for one that matches the pattern but names no session.
func RembgServerModels() []string {
	return []string{
		"birefnet-general", "birefnet-general-lite", "birefnet-portrait", "birefnet-dis",
		"birefnet-hrsod", "birefnet-cod", "birefnet-massive", "isnet-anime", "dis_custom",
		"isnet-general-use", "sam", "silueta", "u2net_cloth_seg", "u2net_custom",
		"u2net_human_seg", "u2net", "u2netp", "bria-rmbg", "ben_custom",
	}
}

// rembgNeedsExtras are server models that fail (a bare 500) without the
// `extras` JSON Pictor never sends: a prompt for sam, a model_path for the
// custom ones.
var rembgNeedsExtras = []string{"sam", "u2net_custom", "dis_custom", "ben_custom"}

// RemoveRequest is a POST /api/remove request to a rembg server: a
// multipart form with the image as its `file` part.
type RemoveRequest struct {
	// Image is the input picture (PNG or JPEG bytes); required. The server
	// applies its EXIF orientation first.
	Image []byte
	// Model is a session name the server lists (RembgServerInfo.Models),
	// sent as `model`; default "" sends DefaultRembgModel.
	Model string
	// OnlyMask (`om`) answers the mask instead of a cut-out: an L PNG the
	// input's size, white = foreground; u2net_cloth_seg answers its three
	// class masks stacked on an RGBA canvas three times as tall, the masks
	// in the colour channels. Default false.
	OnlyMask bool
	// PostProcessMask (`ppm`) smooths and binarises the mask; default false.
	PostProcessMask bool
	// AlphaMatting (`a`) refines a cut-out's edge (ignored with OnlyMask);
	// default false.
	AlphaMatting bool
	// AlphaMattingForegroundThreshold (`af`) is 0..255; default 0 leaves
	// the server's 240.
	AlphaMattingForegroundThreshold int
	// AlphaMattingBackgroundThreshold (`ab`) is 0..255; default 0 leaves
	// the server's 10.
	AlphaMattingBackgroundThreshold int
	// AlphaMattingErodeSize (`ae`) is in pixels, at least 0; default 0
	// leaves the server's 10.
	AlphaMattingErodeSize int
}

// pngSignature starts every PNG file.
var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// RemoveBackground runs a rembg server's POST /api/remove and returns its
// raw PNG: an RGBA cut-out, or the mask with OnlyMask. A 422 (a missing
// file, a model outside the server's pattern, a threshold out of range)
// and a bare 500 (an unreadable picture, a model that matches the pattern
// but names no session) become *APIError values.
func (c *Client) RemoveBackground(ctx context.Context, req RemoveRequest) ([]byte, error) {
	name := epRembgRemove.name()
	if len(req.Image) == 0 {
		return nil, fmt.Errorf("sd %s: %w: no image", name, ErrBadRequest)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fields := [][2]string{
		{"model", orDefault(req.Model, DefaultRembgModel)},
		{"om", strconv.FormatBool(req.OnlyMask)},
		{"ppm", strconv.FormatBool(req.PostProcessMask)},
		{"a", strconv.FormatBool(req.AlphaMatting)},
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"af", req.AlphaMattingForegroundThreshold}, {"ab", req.AlphaMattingBackgroundThreshold}, {"ae", req.AlphaMattingErodeSize}} {
		if f.v != 0 {
			fields = append(fields, [2]string{f.name, strconv.Itoa(f.v)})
		}
	}
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return nil, fmt.Errorf("sd %s: encode request: %w", name, err)
		}
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", `form-data; name="file"; filename="image"`)
	h.Set("Content-Type", sniffImageType(req.Image))
	part, err := mw.CreatePart(h)
	if err == nil {
		_, err = part.Write(req.Image)
	}
	if err == nil {
		err = mw.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("sd %s: encode request: %w", name, err)
	}
	var out []byte
	err = c.send(ctx, epRembgRemove, nil, "", &buf, mw.FormDataContentType(), "image/png", func(r io.Reader) error {
		b, err := io.ReadAll(r)
		out = b
		return err
	})
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(out, pngSignature) {
		return nil, fmt.Errorf("sd %s: %w: response is not a PNG (%d bytes)", name, ErrBackend, len(out))
	}
	return out, nil
}

// sniffImageType is the Content-Type of an image part.
func sniffImageType(b []byte) string {
	if t := http.DetectContentType(b); strings.HasPrefix(t, "image/") {
		return t
	}
	return "application/octet-stream"
}

// RembgServerInfo is what a rembg server's GET /openapi.json says of it.
type RembgServerInfo struct {
	// Title is the API title, "Rembg".
	Title string
	// Version is the rembg version.
	Version string
	// Models are the session names its model field accepts, in the
	// server's order; RembgServerModels when the document has no pattern
	// that lists them.
	Models []string
	// ModelsListed is false when Models is the built-in list.
	ModelsListed bool
}

// openAPIDoc is the part of a FastAPI /openapi.json this package reads.
type openAPIDoc struct {
	Info struct {
		Title   string `json:"title"`
		Version string `json:"version"`
	} `json:"info"`
	Paths      map[string]map[string]openAPIOperation `json:"paths"`
	Components struct {
		Schemas map[string]openAPISchema `json:"schemas"`
	} `json:"components"`
}

type openAPIOperation struct {
	Parameters []struct {
		Name   string        `json:"name"`
		In     string        `json:"in"`
		Schema openAPISchema `json:"schema"`
	} `json:"parameters"`
	RequestBody struct {
		Content map[string]struct {
			Schema openAPISchema `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
}

type openAPISchema struct {
	Ref        string                   `json:"$ref"`
	Pattern    string                   `json:"pattern"`
	Required   []string                 `json:"required"`
	Properties map[string]openAPISchema `json:"properties"`
}

// RembgServerInfo runs GET /openapi.json on a rembg server: an unlocked,
// cached document that also tells the models. A server whose document has
// no POST /api/remove taking a `file` is not a rembg server: ErrNotFound.
func (c *Client) RembgServerInfo(ctx context.Context) (*RembgServerInfo, error) {
	var doc openAPIDoc
	if err := c.call(ctx, epRembgOpenAPI, nil, nil, &doc); err != nil {
		return nil, err
	}
	post, ok := doc.Paths["/api/remove"]["post"]
	if !ok {
		return nil, fmt.Errorf("sd %s: %w: /openapi.json has no POST /api/remove: not a rembg server", epRembgOpenAPI.name(), ErrNotFound)
	}
	body := post.RequestBody.Content["multipart/form-data"].Schema
	if ref, found := strings.CutPrefix(body.Ref, "#/components/schemas/"); found {
		body = doc.Components.Schemas[ref]
	}
	if !slices.Contains(body.Required, "file") {
		return nil, fmt.Errorf("sd %s: %w: POST /api/remove takes no multipart file: not a rembg server", epRembgOpenAPI.name(), ErrNotFound)
	}
	info := &RembgServerInfo{Title: doc.Info.Title, Version: doc.Info.Version}
	pattern := body.Properties["model"].Pattern
	if pattern == "" {
		for _, p := range doc.Paths["/api/remove"]["get"].Parameters {
			if p.Name == "model" && p.In == "query" {
				pattern = p.Schema.Pattern
			}
		}
	}
	if names := patternNames(pattern); names != nil {
		info.Models, info.ModelsListed = names, true
	} else {
		info.Models = RembgServerModels()
	}
	return info, nil
}

// modelPattern is the server's model pattern: "(" + "|".join(sessions_names) + ")".
var modelPattern = regexp.MustCompile(`^\(([A-Za-z0-9_.-]+(\|[A-Za-z0-9_.-]+)*)\)$`)

// patternNames reads the session names out of the server's model pattern;
// nil when it is not of that form.
func patternNames(p string) []string {
	m := modelPattern.FindStringSubmatch(p)
	if m == nil {
		return nil
	}
	return strings.Split(m[1], "|")
}

// fetchRembgServerModels is the name set CheckNames uses on a rembg server.
func (c *Client) fetchRembgServerModels(ctx context.Context) (*nameSet, error) {
	info, err := c.RembgServerInfo(ctx)
	if err != nil {
		return nil, err
	}
	set := newNameSet()
	for _, m := range info.Models {
		set.add(m)
	}
	return set, nil
}

// checkRembgServerModel checks a model name against a rembg server's list.
// The server matches its pattern anywhere in the name (pydantic v2), so a
// near miss such as "u2net-x" passes its 422 check and fails with a bare
// 500; an exact match is required here instead.
func (c *Client) checkRembgServerModel(ctx context.Context, model string) error {
	set, err := c.names.rembgServer.get(ctx, c.fetchRembgServerModels, func(s *nameSet) bool { return s.ok[model] })
	if err != nil {
		return fmt.Errorf("check rembg model: %w", err)
	}
	if !set.ok[model] {
		return &UnknownNameError{Kind: "rembg model", Name: model, Backend: c.backend.Name(), Suggestions: set.suggest(model)}
	}
	if slices.Contains(rembgNeedsExtras, model) {
		return &UnknownNameError{Kind: "rembg model", Name: model, Backend: c.backend.Name(),
			Reason: "it needs the server's extras parameter (a prompt or a model path), which Pictor does not send"}
	}
	return nil
}

// MarshalJSON writes the kind as its name.
func (k Kind) MarshalJSON() ([]byte, error) { return json.Marshal(k.String()) }

// UnmarshalJSON reads "webui" or "rembg".
func (k *Kind) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	switch s {
	case "webui":
		*k = KindWebUI
	case "rembg":
		*k = KindRembg
	default:
		return fmt.Errorf("sd backend kind %q: want webui or rembg", s)
	}
	return nil
}
