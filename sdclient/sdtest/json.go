package sdtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf16"
)

// writeJSON answers with v as compact JSON, like FastAPI's JSONResponse (no
// HTML escaping, no trailing newline).
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		fmt.Fprintf(&buf, `{"error":"TypeError","detail":"","body":"","errors":%q}`, err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(bytes.TrimRight(buf.Bytes(), "\n"))))
	w.WriteHeader(status)
	_, _ = w.Write(bytes.TrimRight(buf.Bytes(), "\n"))
}

// detailBody is FastAPI's default body for HTTP exceptions.
type detailBody struct {
	Detail any `json:"detail"`
}

// a1111Error is the body api_middleware writes for any exception.
type a1111Error struct {
	Error  string `json:"error"`
	Detail string `json:"detail"`
	Body   string `json:"body"`
	Errors string `json:"errors"`
}

// forgeError is Forge's body for handled exceptions.
type forgeError struct {
	Error   string `json:"error"`
	Detail  string `json:"detail"`
	Body    string `json:"body"`
	Message string `json:"message"`
}

// httpException answers as a raised fastapi.HTTPException: the A1111
// api_middleware body, or Forge's plain {"detail"}.
func (s *Server) httpException(w http.ResponseWriter, status int, detail string, hdr map[string]string) {
	for k, v := range hdr {
		w.Header().Set(k, v)
	}
	if s.flavorForge() {
		writeJSON(w, status, detailBody{Detail: detail})
		return
	}
	writeJSON(w, status, a1111Error{Error: "HTTPException", Detail: detail})
}

// exception answers as any other Python exception reaching the middleware:
// status 500 with the class name and str(exc).
func (s *Server) exception(w http.ResponseWriter, class, msg string) {
	if s.flavorForge() {
		writeJSON(w, http.StatusInternalServerError, forgeError{Error: class, Message: msg})
		return
	}
	writeJSON(w, http.StatusInternalServerError, a1111Error{Error: class, Errors: msg})
}

// apiError is an error raised while serving a request, written by write.
type apiError struct {
	status int    // HTTP status; 500 for plain exceptions
	class  string // Python exception class; "HTTPException" for HTTP exceptions
	msg    string // detail (HTTPException) or str(exc)
}

func (e *apiError) Error() string { return e.class + ": " + e.msg }

func httpErr(status int, detail string) *apiError {
	return &apiError{status: status, class: "HTTPException", msg: detail}
}

func pyErr(class, format string, args ...any) *apiError {
	return &apiError{status: http.StatusInternalServerError, class: class, msg: fmt.Sprintf(format, args...)}
}

// limitErr reports a stand-in limit, which the real WebUI does not have.
func limitErr(format string, args ...any) *apiError {
	return pyErr("ValueError", "sdtest limit: "+format, args...)
}

func (s *Server) writeErr(w http.ResponseWriter, e *apiError) {
	if e.class == "HTTPException" {
		s.httpException(w, e.status, e.msg, nil)
		return
	}
	s.exception(w, e.class, e.msg)
}

// pyFloat is a float that marshals the way Python's json module writes a
// float: always with a fraction or exponent ("7.0", not "7").
type pyFloat float64

// MarshalJSON writes f in Python's float repr.
func (f pyFloat) MarshalJSON() ([]byte, error) { return []byte(pyFloatRepr(float64(f))), nil }

func pyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if abs := math.Abs(f); abs != 0 && (abs < 1e-4 || abs >= 1e16) {
		// Python switches to exponent form at these bounds, with at least
		// two exponent digits.
		s = strconv.FormatFloat(f, 'e', -1, 64)
		mant, exp, _ := strings.Cut(s, "e")
		sign := exp[0]
		digits := strings.TrimLeft(exp[1:], "0")
		if len(digits) < 2 {
			digits = strings.Repeat("0", 2-len(digits)) + digits
		}
		return mant + "e" + string(sign) + digits
	}
	if strings.ContainsAny(s, "e") {
		s = strconv.FormatFloat(f, 'f', -1, 64)
	}
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// kv is one member of an ordered JSON object.
type kv struct {
	k string
	v any
}

// object is a JSON object that keeps its member order, as a Python dict does.
type object []kv

// MarshalJSON writes the members in order, compactly.
func (o object) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(m.k)
		buf.Write(k)
		buf.WriteByte(':')
		var vb bytes.Buffer
		enc := json.NewEncoder(&vb)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(m.v); err != nil {
			return nil, fmt.Errorf("marshal %s: %w", m.k, err)
		}
		buf.Write(bytes.TrimRight(vb.Bytes(), "\n"))
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// pyDumps renders v the way Python's json.dumps does by default: ", " and
// ": " separators, non-ASCII escaped, floats in repr form. It handles the
// types this package builds: object, map[string]any, slices, strings,
// numbers, bools and nil.
func pyDumps(v any) string {
	var b strings.Builder
	pyWrite(&b, v)
	return b.String()
}

func pyWrite(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case string:
		pyString(b, x)
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(pyFloatRepr(x))
	case pyFloat:
		b.WriteString(pyFloatRepr(float64(x)))
	case json.Number:
		b.WriteString(x.String())
	case object:
		b.WriteByte('{')
		for i, m := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			pyString(b, m.k)
			b.WriteString(": ")
			pyWrite(b, m.v)
		}
		b.WriteByte('}')
	case map[string]any:
		b.WriteByte('{')
		i := 0
		for k, val := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			i++
			pyString(b, k)
			b.WriteString(": ")
			pyWrite(b, val)
		}
		b.WriteByte('}')
	case []any:
		pyList(b, len(x), func(i int) any { return x[i] })
	case []string:
		pyList(b, len(x), func(i int) any { return x[i] })
	case []int64:
		pyList(b, len(x), func(i int) any { return x[i] })
	default:
		raw, err := json.Marshal(x)
		if err != nil {
			b.WriteString("null")
			return
		}
		b.Write(raw)
	}
}

func pyList(b *strings.Builder, n int, at func(int) any) {
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		pyWrite(b, at(i))
	}
	b.WriteByte(']')
}

func pyString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || (r >= 0x7f && r < 0x10000):
			fmt.Fprintf(b, `\u%04x`, r)
		case r >= 0x10000:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(b, `\u%04x\u%04x`, r1, r2)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}
