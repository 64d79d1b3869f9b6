package sdtest

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// RembgVersion is the rembg release whose standalone server (`rembg s`)
// the stand-in imitates with Options.RembgServer.
const RembgVersion = "2.0.77"

// RembgServerModels are the session names of rembg 2.0.77 (sessions_names,
// in its order): the server's model pattern is "(" + "|".join(them) + ")".
func RembgServerModels() []string {
	return []string{
		"birefnet-general", "birefnet-general-lite", "birefnet-portrait", "birefnet-dis",
		"birefnet-hrsod", "birefnet-cod", "birefnet-massive", "isnet-anime", "dis_custom",
		"isnet-general-use", "sam", "silueta", "u2net_cloth_seg", "u2net_custom",
		"u2net_human_seg", "u2net", "u2netp", "bria-rmbg", "ben_custom",
	}
}

// rembgNeedsExtras are the sessions that fail without the `extras` query
// parameter (a prompt for sam, a model_path for the custom ones); the
// stand-in runs none of them.
var rembgNeedsExtras = []string{"sam", "u2net_custom", "dis_custom", "ben_custom"}

// rembgModelPattern is the model fields' pattern.
func rembgModelPattern() string { return "(" + strings.Join(RembgServerModels(), "|") + ")" }

// rembgRouteTable is the rembg server's FastAPI app started with --no-ui:
// /api/remove (GET with a url, POST with a multipart file), /openapi.json
// and the docs page at /api. Nothing is authenticated.
func (s *Server) rembgRouteTable() map[string][]route {
	open := func(method string, h func(http.ResponseWriter, *http.Request, *Call)) route {
		return route{method: method, h: h}
	}
	return map[string][]route{
		"/api/remove":   {open(http.MethodGet, s.handleRembgRemoveURL), open(http.MethodPost, s.handleRembgRemove)},
		"/openapi.json": {open(http.MethodGet, s.handleRembgOpenAPI)},
		"/api":          {open(http.MethodGet, s.handleRembgDocs)},
		FaultsPath:      {open(http.MethodGet, s.handleGetFaults), open(http.MethodPut, s.handlePutFaults)},
	}
}

// internalServerError is Starlette's answer to an exception nothing
// handled: a bare text 500, as rembg's server gives for a picture PIL
// cannot open, a model that matches the pattern but names no session, or a
// failed inference.
func internalServerError(w http.ResponseWriter) {
	const body = "Internal Server Error"
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, body)
}

// formValue is one form field: text, or an uploaded file.
type formValue struct {
	text   string
	file   []byte
	isFile bool
}

// readForm reads a request's form as Starlette's request.form() does:
// multipart/form-data or application/x-www-form-urlencoded; any other
// content type gives an empty form. A multipart body that does not parse
// is FastAPI's 400 "There was an error parsing the body". The last value
// of a repeated field wins.
func (s *Server) readForm(w http.ResponseWriter, r *http.Request) (map[string]formValue, []string, bool) {
	form := map[string]formValue{}
	var order []string
	set := func(name string, v formValue) {
		if _, dup := form[name]; !dup {
			order = append(order, name)
		}
		form[name] = v
	}
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "multipart/form-data":
		body, ok := s.readBody(w, r)
		if !ok {
			return nil, nil, false
		}
		parseErr := func() {
			writeJSON(w, http.StatusBadRequest, detailBody{Detail: "There was an error parsing the body"})
		}
		if params["boundary"] == "" {
			parseErr()
			return nil, nil, false
		}
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				parseErr()
				return nil, nil, false
			}
			data, err := io.ReadAll(p)
			if err != nil || p.FormName() == "" {
				parseErr()
				return nil, nil, false
			}
			if p.FileName() != "" {
				set(p.FormName(), formValue{file: data, isFile: true})
			} else {
				set(p.FormName(), formValue{text: string(data)})
			}
		}
	case "application/x-www-form-urlencoded":
		body, ok := s.readBody(w, r)
		if !ok {
			return nil, nil, false
		}
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, detailBody{Detail: "There was an error parsing the body"})
			return nil, nil, false
		}
		for _, kv := range strings.Split(string(body), "&") {
			k, _, _ := strings.Cut(kv, "=")
			if k, err := url.QueryUnescape(k); err == nil && vals.Has(k) {
				vs := vals[k]
				set(k, formValue{text: vs[len(vs)-1]})
			}
		}
	default:
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, MaxBodyBytes))
	}
	return form, order, true
}

// v2Issue is one pydantic v2 validation error, as FastAPI writes it.
type v2Issue struct {
	Type  string         `json:"type"`
	Loc   []string       `json:"loc"`
	Msg   string         `json:"msg"`
	Input any            `json:"input"`
	Ctx   map[string]any `json:"ctx,omitempty"`
}

// rembgParams are the validated CommonQueryPostParams (or CommonQueryParams).
type rembgParams struct {
	model              string
	a, om, ppm         bool
	af, ab, ae         int64
	bgc, extras        string
	haveBGC, haveExtra bool
}

// pyBool is pydantic v2's lax str → bool.
func pyBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "0", "off", "f", "false", "n", "no":
		return false, true
	case "1", "on", "t", "true", "y", "yes":
		return true, true
	}
	return false, false
}

// validateRembgParams validates the rembg server's common parameters from
// get (the query, or the form's text fields) with loc prefix where ("body"
// or "query"), in declaration order. As FastAPI does for form and query
// fields, an empty string takes the default.
func validateRembgParams(where string, get func(name string) (formValue, bool)) (rembgParams, []v2Issue) {
	p := rembgParams{model: "u2net", af: 240, ab: 10, ae: 10}
	var issues []v2Issue
	text := func(name string) (string, bool) {
		v, ok := get(name)
		if !ok || (!v.isFile && v.text == "") {
			return "", false
		}
		if v.isFile {
			issues = append(issues, v2Issue{Type: "string_type", Loc: []string{where, name}, Msg: "Input should be a valid string", Input: "UploadFile"})
			return "", false
		}
		return v.text, true
	}
	if m, ok := text("model"); ok {
		pat := rembgModelPattern()
		// pydantic v2 searches for the pattern anywhere in the value.
		if !slices.ContainsFunc(RembgServerModels(), func(n string) bool { return strings.Contains(m, n) }) {
			issues = append(issues, v2Issue{Type: "string_pattern_mismatch", Loc: []string{where, "model"},
				Msg: fmt.Sprintf("String should match pattern '%s'", pat), Input: m, Ctx: map[string]any{"pattern": pat}})
		} else {
			p.model = m
		}
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"a", &p.a}} {
		if t, ok := text(b.name); ok {
			if v, ok := pyBool(t); ok {
				*b.dst = v
			} else {
				issues = append(issues, v2Issue{Type: "bool_parsing", Loc: []string{where, b.name}, Msg: "Input should be a valid boolean, unable to interpret input", Input: t})
			}
		}
	}
	for _, n := range []struct {
		name  string
		dst   *int64
		hasLE bool
	}{{"af", &p.af, true}, {"ab", &p.ab, true}, {"ae", &p.ae, false}} {
		t, ok := text(n.name)
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
		switch {
		case err != nil:
			issues = append(issues, v2Issue{Type: "int_parsing", Loc: []string{where, n.name}, Msg: "Input should be a valid integer, unable to parse string as an integer", Input: t})
		case v < 0:
			issues = append(issues, v2Issue{Type: "greater_than_equal", Loc: []string{where, n.name}, Msg: "Input should be greater than or equal to 0", Input: t, Ctx: map[string]any{"ge": 0}})
		case n.hasLE && v > 255:
			issues = append(issues, v2Issue{Type: "less_than_equal", Loc: []string{where, n.name}, Msg: "Input should be less than or equal to 255", Input: t, Ctx: map[string]any{"le": 255}})
		default:
			*n.dst = v
		}
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"om", &p.om}, {"ppm", &p.ppm}} {
		if t, ok := text(b.name); ok {
			if v, ok := pyBool(t); ok {
				*b.dst = v
			} else {
				issues = append(issues, v2Issue{Type: "bool_parsing", Loc: []string{where, b.name}, Msg: "Input should be a valid boolean, unable to interpret input", Input: t})
			}
		}
	}
	return p, issues
}

// rembgFormFields are the fields POST /api/remove declares in its form.
var rembgFormFields = []string{"file", "model", "a", "af", "ab", "ae", "om", "ppm"}

// handleRembgRemove is POST /api/remove: a multipart `file` and the form
// fields model, a, af, ab, ae, om and ppm (bgc and extras are query
// parameters, which the stand-in reads and ignores). It answers the PNG
// bytes (image/png), or FastAPI's 422 {"detail": [...]} in pydantic v2
// form, or a bare text 500 when rembg itself fails.
func (s *Server) handleRembgRemove(w http.ResponseWriter, r *http.Request, c *Call) {
	form, order, ok := s.readForm(w, r)
	if !ok {
		return
	}
	get := func(name string) (formValue, bool) { v, ok := form[name]; return v, ok }
	p, issues := validateRembgParams("body", get)
	file, hasFile := form["file"]
	if !hasFile || (!file.isFile && file.text == "") {
		issues = append(issues, v2Issue{Type: "missing", Loc: []string{"body", "file"}, Msg: "Field required", Input: nil})
	}
	if s.strict() {
		for _, name := range order {
			if !slices.Contains(rembgFormFields, name) {
				v := form[name]
				var in any = v.text
				if v.isFile {
					in = "UploadFile"
				}
				issues = append(issues, v2Issue{Type: "extra_forbidden", Loc: []string{"body", name}, Msg: "Extra inputs are not permitted", Input: in})
			}
		}
	}
	if len(issues) > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, detailBody{Detail: issues})
		return
	}
	data := file.file
	if !file.isFile {
		data = []byte(file.text) // pydantic takes a text field as bytes
	}
	s.rembgRemove(w, r, data, p)
}

// handleRembgRemoveURL is GET /api/remove?url=...: the same parameters in
// the query. The stand-in never fetches: a private, loopback or otherwise
// internal address is refused as the real server refuses it, any other
// host name as one that does not resolve.
func (s *Server) handleRembgRemoveURL(w http.ResponseWriter, r *http.Request, c *Call) {
	q := r.URL.Query()
	get := func(name string) (formValue, bool) {
		if !q.Has(name) {
			return formValue{}, false
		}
		return formValue{text: q.Get(name)}, true
	}
	_, issues := validateRembgParams("query", get)
	if !q.Has("url") {
		issues = append([]v2Issue{{Type: "missing", Loc: []string{"query", "url"}, Msg: "Field required", Input: nil}}, issues...)
	}
	if len(issues) > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, detailBody{Detail: issues})
		return
	}
	refuse := func(detail string) { writeJSON(w, http.StatusBadRequest, detailBody{Detail: detail}) }
	u, err := url.Parse(q.Get("url"))
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https"):
		refuse("Only http and https URLs are allowed.")
		return
	case u.Hostname() == "":
		refuse("Invalid URL: missing hostname.")
		return
	}
	ip := net.ParseIP(u.Hostname())
	if u.Hostname() == "localhost" {
		ip = net.IPv4(127, 0, 0, 1)
	}
	if ip == nil {
		refuse("Could not resolve hostname.")
		return
	}
	if ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		refuse("Requests to private/internal addresses are not allowed.")
		return
	}
	refuse("sdtest: the stand-in does not fetch URLs")
}

// rembgRemove runs remove() on a picture's bytes and answers its PNG.
func (s *Server) rembgRemove(w http.ResponseWriter, r *http.Request, data []byte, p rembgParams) {
	if !slices.Contains(RembgServerModels(), p.model) || slices.Contains(rembgNeedsExtras, p.model) {
		// new_session raises ValueError for a name that only matched the
		// pattern; the custom sessions and sam fail without their extras.
		internalServerError(w)
		return
	}
	if f, ok := s.takeFailure(); ok {
		if f == FailHang {
			// No interrupt, and a request thread runs on without its client.
			<-s.closed
			return
		}
		if !s.sleepSteps(r, 1) {
			return
		}
		internalServerError(w)
		return
	}
	cfg, _, err := decodeConfig(data)
	if err != nil || cfg.Width > MaxSide || cfg.Height > MaxSide {
		internalServerError(w) // PIL.UnidentifiedImageError, or the stand-in's size limit
		return
	}
	img, err := decodeRaw(data)
	if err != nil {
		internalServerError(w)
		return
	}
	pic := toPicture(img)
	if !s.sleepSteps(r, 3) {
		return
	}
	mask := s.Faults().faultyMask(foreground(pic.img))
	masks := []*image.Gray{mask}
	if p.model == clothSegModel {
		masks = clothSeg(mask)
	}
	var outs []image.Image
	for _, m := range masks {
		if p.ppm {
			m = binarise(m)
		}
		if p.om {
			outs = append(outs, m)
		} else {
			outs = append(outs, pilRGBA{cutout(pic.img, m)})
		}
	}
	out := outs[0]
	if len(outs) > 1 {
		out = concatV(outs)
	}
	raw := encodePNG(out)
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(raw)
}

// binarise is post_process's final threshold: 0 or 255 at 127.
func binarise(m *image.Gray) *image.Gray {
	out := image.NewGray(m.Rect)
	for i, v := range m.Pix {
		if v > 127 {
			out.Pix[i] = 255
		}
	}
	return out
}

// handleRembgDocs is GET /api, the Swagger UI page (docs_url="/api").
func (s *Server) handleRembgDocs(w http.ResponseWriter, r *http.Request, c *Call) {
	const page = `<!DOCTYPE html><html><head><title>Rembg - Swagger UI</title></head><body><div id="swagger-ui"></div></body></html>`
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, page)
}

// handleRembgOpenAPI is GET /openapi.json: FastAPI's document of the
// server, the model pattern included.
func (s *Server) handleRembgOpenAPI(w http.ResponseWriter, r *http.Request, c *Call) {
	pat := rembgModelPattern()
	str := func(title, desc string, def any) object {
		o := object{{"type", "string"}}
		if def != nil {
			o = append(o, kv{"default", def})
		}
		return append(o, object{{"title", title}, {"description", desc}}...)
	}
	model := object{{"type", "string"}, {"pattern", pat}, {"title", "Model"}, {"description", "Model to use when processing image"}, {"default", "u2net"}}
	boolean := func(title, desc string) object {
		return object{{"type", "boolean"}, {"title", title}, {"description", desc}, {"default", false}}
	}
	integer := func(title, desc string, def int, le bool) object {
		o := object{{"type", "integer"}}
		if le {
			o = append(o, object{{"maximum", 255}}...)
		}
		return append(o, object{{"minimum", 0}, {"title", title}, {"description", desc}, {"default", def}}...)
	}
	common := []struct {
		name   string
		schema object
	}{
		{"model", model},
		{"a", boolean("A", "Enable Alpha Matting")},
		{"af", integer("Af", "Alpha Matting (Foreground Threshold)", 240, true)},
		{"ab", integer("Ab", "Alpha Matting (Background Threshold)", 10, true)},
		{"ae", integer("Ae", "Alpha Matting (Erode Structure Size)", 10, false)},
		{"om", boolean("Om", "Only Mask")},
		{"ppm", boolean("Ppm", "Post Process Mask")},
	}
	nullable := func(title, desc string) object {
		return object{{"anyOf", []object{{{"type", "string"}}, {{"type", "null"}}}}, {"description", desc}, {"title", title}}
	}
	queryParam := func(name string, schema object, required bool) object {
		return object{{"name", name}, {"in", "query"}, {"required", required}, {"schema", schema}}
	}
	var getParams []object
	getParams = append(getParams, queryParam("url", str("Url", "URL of the image that has to be processed.", nil), true))
	for _, f := range common {
		getParams = append(getParams, queryParam(f.name, f.schema, false))
	}
	extra := []object{
		queryParam("bgc", nullable("Bgc", "Background Color"), false),
		queryParam("extras", nullable("Extras", "Extra parameters as JSON"), false),
	}
	getParams = append(getParams, extra...)
	props := object{{"file", object{{"type", "string"}, {"format", "binary"}, {"title", "File"}, {"description", "Image file (byte stream) that has to be processed."}}}}
	for _, f := range common {
		props = append(props, kv{f.name, f.schema})
	}
	responses := object{
		{"200", object{{"description", "Successful Response"}, {"content", object{{"application/json", object{{"schema", object{}}}}}}}},
		{"422", object{{"description", "Validation Error"}, {"content", object{{"application/json", object{{"schema", object{{"$ref", "#/components/schemas/HTTPValidationError"}}}}}}}}},
	}
	doc := object{
		{"openapi", "3.1.0"},
		{"info", object{{"title", "Rembg"}, {"description", "Rembg is a tool to remove images background. That is it."}, {"version", RembgVersion}}},
		{"paths", object{{"/api/remove", object{
			{"get", object{{"tags", []string{"Background Removal"}}, {"summary", "Remove from URL"}, {"operationId", "get_index_api_remove_get"}, {"parameters", getParams}, {"responses", responses}}},
			{"post", object{{"tags", []string{"Background Removal"}}, {"summary", "Remove from Stream"}, {"operationId", "post_index_api_remove_post"}, {"parameters", extra},
				{"requestBody", object{{"required", true}, {"content", object{{"multipart/form-data", object{{"schema", object{{"$ref", "#/components/schemas/Body_post_index_api_remove_post"}}}}}}}}},
				{"responses", responses}}},
		}}}},
		{"components", object{{"schemas", object{
			{"Body_post_index_api_remove_post", object{{"properties", props}, {"type", "object"}, {"required", []string{"file"}}, {"title", "Body_post_index_api_remove_post"}}},
			{"HTTPValidationError", object{{"properties", object{{"detail", object{{"items", object{{"$ref", "#/components/schemas/ValidationError"}}}, {"type", "array"}, {"title", "Detail"}}}}}, {"type", "object"}, {"title", "HTTPValidationError"}}},
			{"ValidationError", object{{"properties", object{
				{"loc", object{{"items", object{{"anyOf", []object{{{"type", "string"}}, {{"type", "integer"}}}}}}, {"type", "array"}, {"title", "Location"}}},
				{"msg", object{{"type", "string"}, {"title", "Message"}}},
				{"type", object{{"type", "string"}, {"title", "Error Type"}}},
			}}, {"type", "object"}, {"required", []string{"loc", "msg", "type"}}, {"title", "ValidationError"}}},
		}}}},
		{"tags", []object{{{"name", "Background Removal"}, {"description", "Endpoints that perform background removal with different image sources."}}}},
	}
	writeJSON(w, http.StatusOK, doc)
}
