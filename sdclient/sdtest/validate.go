package sdtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// kind is a pydantic field type.
type kind int

const (
	kInt kind = iota
	kFloat
	kBool
	kStr
	kStrOrList // str or list[str] (prompts)
	kDict
	kList // list of elem
	kAny
	kLiteral // one of literals (ints)
	kModel   // nested model with fields
)

// field describes one request field the way the pydantic model declares it.
type field struct {
	name     string
	kind     kind
	def      any // default, already in coerced form
	required bool
	nullable bool // Optional[...]
	elem     *field
	fields   []field
	literals []int64
	ge, le   *float64
	gt       *float64
}

func num(f float64) *float64 { return &f }

// fieldErr is one validation failure, rendered per pydantic version.
type fieldErr struct {
	loc    []any
	v1msg  string
	v1type string
	v1ctx  object
	v2type string
	v2msg  string
	v2ctx  object
	input  any
}

// v1Item and v2Item are the two 422 item shapes.
type v1Item struct {
	Loc  []any  `json:"loc"`
	Msg  string `json:"msg"`
	Type string `json:"type"`
	Ctx  object `json:"ctx,omitempty"`
}

type v2Item struct {
	Type  string `json:"type"`
	Loc   []any  `json:"loc"`
	Msg   string `json:"msg"`
	Input any    `json:"input"`
	Ctx   object `json:"ctx,omitempty"`
}

// write422 answers with FastAPI's RequestValidationError body.
func (s *Server) write422(w http.ResponseWriter, errs []fieldErr) {
	if s.flavorForge() {
		items := make([]v2Item, len(errs))
		for i, e := range errs {
			items[i] = v2Item{Type: e.v2type, Loc: e.loc, Msg: e.v2msg, Input: e.input, Ctx: e.v2ctx}
		}
		writeJSON(w, http.StatusUnprocessableEntity, detailBody{Detail: items})
		return
	}
	items := make([]v1Item, len(errs))
	for i, e := range errs {
		items[i] = v1Item{Loc: e.loc, Msg: e.v1msg, Type: e.v1type, Ctx: e.v1ctx}
	}
	writeJSON(w, http.StatusUnprocessableEntity, detailBody{Detail: items})
}

// values holds a validated request: every declared field, coerced, with
// defaults filled in. Numbers are int64 or float64.
type values map[string]any

func (v values) int(k string) int64 {
	if x, ok := v[k].(int64); ok {
		return x
	}
	return 0
}

func (v values) float(k string) float64 {
	if x, ok := v[k].(float64); ok {
		return x
	}
	return 0
}

func (v values) bool(k string) bool {
	x, _ := v[k].(bool)
	return x
}

func (v values) str(k string) string {
	x, _ := v[k].(string)
	return x
}

func (v values) isNull(k string) bool { return v[k] == nil }

// echo returns the fields in declaration order, as vars(model) gives them.
func (v values) echo(fields []field) object {
	o := make(object, 0, len(fields))
	for _, f := range fields {
		o = append(o, kv{f.name, echoValue(v[f.name])})
	}
	return o
}

func echoValue(x any) any {
	switch t := x.(type) {
	case float64:
		return pyFloat(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = echoValue(e)
		}
		return out
	case values:
		m := map[string]any{}
		for k, e := range t {
			m[k] = echoValue(e)
		}
		return m
	}
	return x
}

// parseBody decodes and validates a JSON request body against a model's
// fields. embed reports FastAPI's "several Body() parameters" form, where a
// missing body means all defaults. It answers 422 itself and returns false
// when the body does not validate.
func (s *Server) parseBody(w http.ResponseWriter, r *http.Request, body []byte, fields []field, embed bool) (values, bool) {
	raw, ok := s.decodeBody(w, r, body, embed)
	if !ok {
		return nil, false
	}
	m, ok := raw.(map[string]any)
	if !ok {
		e := fieldErr{loc: []any{"body"}, v1msg: "value is not a valid dict", v1type: "type_error.dict",
			v2type: "model_attributes_type", v2msg: "Input should be a valid dictionary or object to extract fields from", input: raw}
		s.write422(w, []fieldErr{e})
		return nil, false
	}
	vals, errs := validateModel(m, fields, []any{"body"}, s.flavorForge(), s.strict())
	if len(errs) > 0 {
		s.write422(w, errs)
		return nil, false
	}
	return vals, true
}

// parseDictBody reads a body declared as a plain dict[str, Any].
func (s *Server) parseDictBody(w http.ResponseWriter, r *http.Request, body []byte) (map[string]any, bool) {
	raw, ok := s.decodeBody(w, r, body, false)
	if !ok {
		return nil, false
	}
	m, ok := raw.(map[string]any)
	if !ok {
		s.write422(w, typeErr([]any{"body"}, raw, "value is not a valid dict", "type_error.dict", "dict_type", "Input should be a valid dictionary"))
		return nil, false
	}
	return m, true
}

// decodeBody reads the body as FastAPI does: JSON when the content type is
// absent or JSON, else the raw text. An empty body is missing, or {} for
// embedded Body() parameters.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, body []byte, embed bool) (any, bool) {
	isJSON := true
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		isJSON = err == nil && (mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")))
	}
	switch {
	case len(body) == 0:
		if embed {
			return map[string]any{}, true
		}
		s.write422(w, []fieldErr{missingErr([]any{"body"}, nil)})
		return nil, false
	case !isJSON:
		return string(body), true
	}
	var raw any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		s.write422(w, []fieldErr{jsonDecodeErr(body, err)})
		return nil, false
	}
	if dec.More() {
		s.write422(w, []fieldErr{jsonDecodeErrAt(body, int(dec.InputOffset()), "Extra data")})
		return nil, false
	}
	if raw == nil && embed {
		return map[string]any{}, true
	}
	return raw, true
}

// extraErr is pydantic's error for a key the model does not declare, under
// Extra.forbid (v1) or extra="forbid" (v2).
func extraErr(loc []any, input any) fieldErr {
	return fieldErr{loc: loc, v1msg: "extra fields not permitted", v1type: "value_error.extra",
		v2type: "extra_forbidden", v2msg: "Extra inputs are not permitted", input: input}
}

func missingErr(loc []any, input any) fieldErr {
	return fieldErr{loc: loc, v1msg: "field required", v1type: "value_error.missing",
		v2type: "missing", v2msg: "Field required", input: input}
}

func jsonDecodeErr(body []byte, err error) fieldErr {
	pos := len(body)
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		pos = int(syn.Offset)
		if pos > 0 {
			pos--
		}
	}
	return jsonDecodeErrAt(body, pos, "Expecting value")
}

// jsonDecodeErrAt imitates the error FastAPI reports for a body that
// json.loads rejects (the message text is approximate).
func jsonDecodeErrAt(body []byte, pos int, what string) fieldErr {
	if pos > len(body) {
		pos = len(body)
	}
	line := bytes.Count(body[:pos], []byte("\n")) + 1
	col := pos - bytes.LastIndexByte(body[:pos], '\n')
	return fieldErr{
		loc:    []any{"body", pos},
		v1msg:  fmt.Sprintf("%s: line %d column %d (char %d)", what, line, col, pos),
		v1type: "value_error.jsondecode",
		v1ctx:  object{{"msg", what}, {"doc", string(body)}, {"pos", pos}, {"lineno", line}, {"colno", col}},
		v2type: "json_invalid",
		v2msg:  "JSON decode error",
		v2ctx:  object{{"error", what}},
		input:  map[string]any{},
	}
}

// validateModel validates m against fields. Unknown keys are ignored
// (pydantic's Extra.ignore, as the WebUI does), unless strict: then each is
// an "extra fields not permitted" error, after the declared fields' errors
// and in key order.
func validateModel(m map[string]any, fields []field, loc []any, v2, strict bool) (values, []fieldErr) {
	out := values{}
	var errs []fieldErr
	for _, f := range fields {
		floc := append(append([]any{}, loc...), f.name)
		x, present := m[f.name]
		if !present {
			if f.required {
				errs = append(errs, missingErr(floc, m))
				continue
			}
			out[f.name] = copyDefault(f.def)
			continue
		}
		val, ferrs := coerce(x, f, floc, v2, strict)
		if len(ferrs) > 0 {
			errs = append(errs, ferrs...)
			continue
		}
		out[f.name] = val
	}
	if strict {
		declared := make(map[string]bool, len(fields))
		for _, f := range fields {
			declared[f.name] = true
		}
		var extra []string
		for k := range m {
			if !declared[k] {
				extra = append(extra, k)
			}
		}
		slices.Sort(extra)
		for _, k := range extra {
			errs = append(errs, extraErr(append(append([]any{}, loc...), k), m[k]))
		}
	}
	return out, errs
}

func copyDefault(d any) any {
	switch t := d.(type) {
	case []any:
		return append([]any{}, t...)
	case map[string]any:
		c := make(map[string]any, len(t))
		for k, v := range t {
			c[k] = v
		}
		return c
	}
	return d
}

func typeErr(loc []any, x any, v1msg, v1type, v2type, v2msg string) []fieldErr {
	return []fieldErr{{loc: loc, v1msg: v1msg, v1type: v1type, v2type: v2type, v2msg: v2msg, input: x}}
}

// coerce validates one value the way pydantic v1 (v2=false) or v2 in lax
// mode would.
func coerce(x any, f field, loc []any, v2, strict bool) (any, []fieldErr) {
	if x == nil {
		if f.nullable || f.kind == kAny {
			return nil, nil
		}
		return nil, noneErr(f, loc, v2)
	}
	switch f.kind {
	case kInt:
		n, errs := coerceInt(x, loc, v2)
		if errs != nil {
			return nil, errs
		}
		if errs := checkBounds(float64(n), x, f, loc); errs != nil {
			return nil, errs
		}
		return n, nil
	case kFloat:
		n, errs := coerceFloat(x, loc, v2)
		if errs != nil {
			return nil, errs
		}
		if errs := checkBounds(n, x, f, loc); errs != nil {
			return nil, errs
		}
		return n, nil
	case kBool:
		return coerceBool(x, loc, v2)
	case kStr:
		return coerceStr(x, loc, v2)
	case kStrOrList:
		if l, ok := x.([]any); ok {
			out := make([]any, len(l))
			for i, e := range l {
				s, errs := coerceStr(e, append(append([]any{}, loc...), i), v2)
				if errs != nil {
					return nil, errs
				}
				out[i] = s
			}
			return out, nil
		}
		return coerceStr(x, loc, v2)
	case kDict:
		if m, ok := x.(map[string]any); ok {
			return m, nil
		}
		return nil, typeErr(loc, x, "value is not a valid dict", "type_error.dict", "dict_type", "Input should be a valid dictionary")
	case kList:
		l, ok := x.([]any)
		if !ok {
			return nil, typeErr(loc, x, "value is not a valid list", "type_error.list", "list_type", "Input should be a valid list")
		}
		if f.elem == nil {
			return l, nil
		}
		out := make([]any, len(l))
		var errs []fieldErr
		for i, e := range l {
			v, ferrs := coerce(e, *f.elem, append(append([]any{}, loc...), i), v2, strict)
			errs = append(errs, ferrs...)
			out[i] = v
		}
		if len(errs) > 0 {
			return nil, errs
		}
		return out, nil
	case kModel:
		m, ok := x.(map[string]any)
		if !ok {
			return nil, typeErr(loc, x, "value is not a valid dict", "type_error.dict",
				"model_attributes_type", "Input should be a valid dictionary or object to extract fields from")
		}
		vals, errs := validateModel(m, f.fields, loc, v2, strict)
		if len(errs) > 0 {
			return nil, errs
		}
		return vals, nil
	case kLiteral:
		return coerceLiteral(x, f, loc, v2)
	}
	return x, nil
}

func noneErr(f field, loc []any, v2 bool) []fieldErr {
	e := fieldErr{loc: loc, v1msg: "none is not an allowed value", v1type: "type_error.none.not_allowed", input: nil}
	switch f.kind {
	case kInt:
		e.v2type, e.v2msg = "int_type", "Input should be a valid integer"
	case kFloat:
		e.v2type, e.v2msg = "float_type", "Input should be a valid number"
	case kBool:
		e.v2type, e.v2msg = "bool_type", "Input should be a valid boolean"
	case kList:
		e.v2type, e.v2msg = "list_type", "Input should be a valid list"
	case kDict:
		e.v2type, e.v2msg = "dict_type", "Input should be a valid dictionary"
	default:
		e.v2type, e.v2msg = "string_type", "Input should be a valid string"
	}
	return []fieldErr{e}
}

func coerceInt(x any, loc []any, v2 bool) (int64, []fieldErr) {
	bad := func(v2type, v2msg string) []fieldErr {
		return typeErr(loc, x, "value is not a valid integer", "type_error.integer", v2type, v2msg)
	}
	switch t := x.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(t.String(), 10, 64); err == nil {
			return n, nil
		}
		f, err := strconv.ParseFloat(t.String(), 64)
		if err != nil || math.IsInf(f, 0) || math.Abs(f) > 1<<62 {
			return 0, bad("int_parsing", "Input should be a valid integer, unable to parse string as an integer")
		}
		if v2 && f != math.Trunc(f) {
			return 0, bad("int_from_float", "Input should be a valid integer, got a number with a fractional part")
		}
		return int64(f), nil
	case bool:
		if t {
			return 1, nil
		}
		return 0, nil
	case string:
		if n, err := strconv.ParseInt(strings.TrimSpace(strings.ReplaceAll(t, "_", "")), 10, 64); err == nil {
			return n, nil
		}
		return 0, bad("int_parsing", "Input should be a valid integer, unable to parse string as an integer")
	}
	return 0, bad("int_type", "Input should be a valid integer")
}

func coerceFloat(x any, loc []any, v2 bool) (float64, []fieldErr) {
	bad := func(v2type, v2msg string) []fieldErr {
		return typeErr(loc, x, "value is not a valid float", "type_error.float", v2type, v2msg)
	}
	switch t := x.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(t.String(), 64)
		if err != nil {
			return 0, bad("float_parsing", "Input should be a valid number, unable to parse string as a number")
		}
		return f, nil
	case bool:
		if t {
			return 1, nil
		}
		return 0, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
		if err != nil {
			return 0, bad("float_parsing", "Input should be a valid number, unable to parse string as a number")
		}
		return f, nil
	}
	return 0, bad("float_type", "Input should be a valid number")
}

func coerceBool(x any, loc []any, v2 bool) (any, []fieldErr) {
	parseErr := typeErr(loc, x, "value could not be parsed to a boolean", "type_error.bool",
		"bool_parsing", "Input should be a valid boolean, unable to interpret input")
	switch t := x.(type) {
	case bool:
		return t, nil
	case json.Number:
		f, err := strconv.ParseFloat(t.String(), 64)
		if err == nil && f == 1 {
			return true, nil
		}
		if err == nil && f == 0 {
			return false, nil
		}
		return nil, parseErr
	case string:
		switch strings.ToLower(t) {
		case "1", "on", "t", "true", "y", "yes":
			return true, nil
		case "0", "off", "f", "false", "n", "no":
			return false, nil
		}
		return nil, parseErr
	}
	return nil, typeErr(loc, x, "value could not be parsed to a boolean", "type_error.bool",
		"bool_type", "Input should be a valid boolean")
}

func coerceStr(x any, loc []any, v2 bool) (any, []fieldErr) {
	bad := typeErr(loc, x, "str type expected", "type_error.str", "string_type", "Input should be a valid string")
	switch t := x.(type) {
	case string:
		return t, nil
	case json.Number:
		if v2 {
			return nil, bad
		}
		if n, err := strconv.ParseInt(t.String(), 10, 64); err == nil {
			return strconv.FormatInt(n, 10), nil
		}
		f, _ := strconv.ParseFloat(t.String(), 64)
		return pyFloatRepr(f), nil
	case bool:
		if v2 {
			return nil, bad
		}
		if t {
			return "True", nil
		}
		return "False", nil
	}
	return nil, bad
}

func coerceLiteral(x any, f field, loc []any, v2 bool) (any, []fieldErr) {
	var n float64
	ok := false
	switch t := x.(type) {
	case json.Number:
		v, err := strconv.ParseFloat(t.String(), 64)
		n, ok = v, err == nil
	case bool:
		if !v2 {
			ok = true
			if t {
				n = 1
			}
		}
	}
	if ok {
		for _, l := range f.literals {
			if float64(l) == n {
				return l, nil
			}
		}
	}
	strs := make([]string, len(f.literals))
	permitted := make([]any, len(f.literals))
	for i, l := range f.literals {
		strs[i] = strconv.FormatInt(l, 10)
		permitted[i] = l
	}
	expected := strings.Join(strs, " or ")
	if len(strs) > 2 {
		expected = strings.Join(strs[:len(strs)-1], ", ") + " or " + strs[len(strs)-1]
	}
	return nil, []fieldErr{{
		loc:    loc,
		v1msg:  "unexpected value; permitted: " + strings.Join(strs, ", "),
		v1type: "value_error.const",
		v1ctx:  object{{"given", x}, {"permitted", permitted}},
		v2type: "literal_error",
		v2msg:  "Input should be " + expected,
		v2ctx:  object{{"expected", expected}},
		input:  x,
	}}
}

func limitText(f float64) string {
	if f == math.Trunc(f) {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func checkBounds(n float64, x any, f field, loc []any) []fieldErr {
	mk := func(v1msg, v1type, key string, limit float64, v2type, v2msg string) []fieldErr {
		lim := any(limit)
		if limit == math.Trunc(limit) {
			lim = int64(limit)
		}
		return []fieldErr{{loc: loc, v1msg: v1msg, v1type: v1type, v1ctx: object{{"limit_value", lim}},
			v2type: v2type, v2msg: v2msg, v2ctx: object{{key, lim}}, input: x}}
	}
	if f.gt != nil && !(n > *f.gt) {
		l := limitText(*f.gt)
		return mk("ensure this value is greater than "+l, "value_error.number.not_gt", "gt", *f.gt,
			"greater_than", "Input should be greater than "+l)
	}
	if f.ge != nil && n < *f.ge {
		l := limitText(*f.ge)
		return mk("ensure this value is greater than or equal to "+l, "value_error.number.not_ge", "ge", *f.ge,
			"greater_than_equal", "Input should be greater than or equal to "+l)
	}
	if f.le != nil && n > *f.le {
		l := limitText(*f.le)
		return mk("ensure this value is less than or equal to "+l, "value_error.number.not_le", "le", *f.le,
			"less_than_equal", "Input should be less than or equal to "+l)
	}
	return nil
}

// parseQueryBool validates a bool query parameter; ok is false when it
// answered 422.
func (s *Server) parseQueryBool(w http.ResponseWriter, r *http.Request, name string, def bool) (bool, bool) {
	q := r.URL.Query()
	if !q.Has(name) {
		return def, true
	}
	v, errs := coerceBool(q.Get(name), []any{"query", name}, s.flavorForge())
	if errs != nil {
		s.write422(w, errs)
		return false, false
	}
	return v.(bool), true
}
