package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/imaging"
)

// writeJSON answers with v as JSON.
func (s *server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("encode response: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// mediaType is the Content-Type of r without parameters, lower case; "" when absent or unparsable.
func mediaType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	return mt
}

// isJSON reports whether a media type is JSON (application/json or application/*+json).
func isJSON(mt string) bool {
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// readBody reads r's body, at most limit bytes (more is a *http.MaxBytesError).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, mbe
		}
		if ctxErr := r.Context().Err(); ctxErr != nil {
			return nil, fmt.Errorf("read body: %w", ctxErr)
		}
		return nil, fmt.Errorf("%w: read body: %w", errClientGone, err)
	}
	return b, nil
}

// decodeJSON reads r's body (at most MaxJSONBytes) into dst: exactly one JSON value,
// no unknown fields.
func (s *server) decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	b, err := readBody(w, r, s.cfg.MaxJSONBytes)
	if err != nil {
		return err
	}
	return unmarshalStrict(b, dst)
}

// unmarshalStrict decodes exactly one JSON value with no unknown fields into dst.
func unmarshalStrict(b []byte, dst any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return fmt.Errorf("%w: empty body", errMalformedJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("%w: %s", errMalformedJSON, strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: data after the JSON value", errMalformedJSON)
	}
	return nil
}

// recipeRef turns the JSON "recipe" member (a name or an inline object) into a RecipeRef.
func recipeRef(raw json.RawMessage) (catalog.RecipeRef, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return catalog.RecipeRef{}, nil
	}
	switch raw[0] {
	case '"':
		var name string
		if err := json.Unmarshal(raw, &name); err != nil {
			return catalog.RecipeRef{}, fmt.Errorf("%w: recipe: %s", errMalformedJSON, err)
		}
		if name == "" {
			return catalog.RecipeRef{}, fmt.Errorf("%w: recipe name is empty", catalog.ErrInvalid)
		}
		return catalog.RecipeRef{Name: name}, nil
	case '{':
		return catalog.RecipeRef{Inline: bytes.Clone(raw)}, nil
	}
	return catalog.RecipeRef{}, fmt.Errorf("%w: recipe must be a recipe name or a recipe object", catalog.ErrInvalid)
}

// recipeFromText is a recipe given as text (a form field): inline JSON when it starts with
// '{', a name otherwise.
func recipeFromText(v string) (catalog.RecipeRef, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return catalog.RecipeRef{}, nil
	case strings.HasPrefix(v, "{"):
		if !json.Valid([]byte(v)) {
			return catalog.RecipeRef{}, fmt.Errorf("%w: recipe field is not valid JSON", errMalformedJSON)
		}
		return catalog.RecipeRef{Inline: []byte(v)}, nil
	}
	return catalog.RecipeRef{Name: v}, nil
}

// source is an image source taken from a request in one of the three forms.
type source struct {
	URL    string
	Data   []byte
	SKU    string
	Recipe catalog.RecipeRef
	// Meta is the image metadata of the JSON form (string values only).
	Meta map[string]string
	// mem is the memory an uploaded body holds, admitted before it was read; the
	// handler releases it when the request is done with Data.
	mem *imaging.Reservation
}

// release gives back what the source's upload holds; nil-safe.
func (src *source) release() { src.mem.Release() }

// admitUpload holds the memory an upload's body will take before a byte of it is read,
// as an ingest of a URL does before it fetches: so requests waiting for their turn hold no
// source whatever size the clients send. It reserves the announced Content-Length, or
// MaxSourceBytes when none is announced; a full wait queue answers at once (busy).
func (s *server) admitUpload(r *http.Request) (*imaging.Reservation, error) {
	n := s.cfg.MaxSourceBytes
	if r.ContentLength > 0 && r.ContentLength < n {
		n = r.ContentLength
	}
	return s.catalog.Admit(r.Context(), n)
}

// sourceJSON is the JSON form of POST /v1/images and POST /v1/analyze.
type sourceJSON struct {
	URL    string            `json:"url"`
	SKU    string            `json:"sku"`
	Recipe json.RawMessage   `json:"recipe"`
	Meta   map[string]string `json:"meta"`
}

// analyzeJSON is the JSON form of POST /v1/analyze: no sku, no recipe.
type analyzeJSON struct {
	URL string `json:"url"`
}

// readSource reads an image source from r by Content-Type:
//   - JSON {"url", "sku", "recipe", "meta"} (sku, recipe and meta only when withMeta);
//   - multipart/form-data with the image in field "file" and text fields "sku" and "recipe";
//   - anything else: the body is the image, sku and recipe (a name) come from the query.
//
// Upload bodies are bounded by MaxSourceBytes, JSON and text fields by MaxJSONBytes.
// A source with neither URL nor bytes is catalog.ErrInvalid.
func (s *server) readSource(w http.ResponseWriter, r *http.Request, withMeta bool) (source, error) {
	var src source
	mt := mediaType(r)
	switch {
	case isJSON(mt):
		if withMeta {
			var in sourceJSON
			if err := s.decodeJSON(w, r, &in); err != nil {
				return source{}, err
			}
			ref, err := recipeRef(in.Recipe)
			if err != nil {
				return source{}, err
			}
			src = source{URL: in.URL, SKU: in.SKU, Recipe: ref, Meta: in.Meta}
		} else {
			var in analyzeJSON
			if err := s.decodeJSON(w, r, &in); err != nil {
				return source{}, err
			}
			src.URL = in.URL
		}
		if src.URL == "" {
			return source{}, fmt.Errorf("%w: url is required in a JSON body; upload bytes as multipart or a raw body instead", catalog.ErrInvalid)
		}
	case mt == "multipart/form-data":
		mem, err := s.admitUpload(r)
		if err != nil {
			return source{}, err
		}
		if src, err = s.readMultipart(w, r, withMeta); err != nil {
			mem.Release()
			return source{}, err
		}
		mem.Settle(int64(len(src.Data)))
		src.mem = mem
	default:
		mem, err := s.admitUpload(r)
		if err != nil {
			return source{}, err
		}
		data, err := readBody(w, r, s.cfg.MaxSourceBytes)
		if err != nil {
			mem.Release()
			return source{}, err
		}
		mem.Settle(int64(len(data)))
		src.Data, src.mem = data, mem
		if withMeta {
			q := r.URL.Query()
			src.SKU = q.Get("sku")
			if name := q.Get("recipe"); name != "" {
				src.Recipe = catalog.RecipeRef{Name: name}
			}
		}
	}
	if src.URL == "" && len(src.Data) == 0 {
		src.release()
		return source{}, fmt.Errorf("%w: give a JSON body with url, a multipart upload with field file, or the image bytes as the body", catalog.ErrInvalid)
	}
	return src, nil
}

// readMultipart streams a multipart/form-data body; the whole body is bounded by MaxSourceBytes.
func (s *server) readMultipart(w http.ResponseWriter, r *http.Request, withMeta bool) (source, error) {
	var src source
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxSourceBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		return source{}, fmt.Errorf("%w: multipart: %w", catalog.ErrInvalid, err)
	}
	seen := map[string]bool{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return source{}, multipartErr(err)
		}
		name := part.FormName()
		if seen[name] {
			_ = part.Close()
			return source{}, fmt.Errorf("%w: multipart field %q given twice", catalog.ErrInvalid, name)
		}
		seen[name] = true
		var limit int64
		switch {
		case name == "file":
			limit = s.cfg.MaxSourceBytes
		case withMeta && (name == "sku" || name == "recipe"):
			limit = s.cfg.MaxJSONBytes
		default:
			_ = part.Close()
			return source{}, fmt.Errorf("%w: unknown multipart field %q", catalog.ErrInvalid, name)
		}
		b, err := io.ReadAll(io.LimitReader(part, limit+1))
		_ = part.Close()
		if err != nil {
			return source{}, multipartErr(err)
		}
		if int64(len(b)) > limit {
			return source{}, &http.MaxBytesError{Limit: limit}
		}
		switch name {
		case "file":
			src.Data = b
		case "sku":
			src.SKU = strings.TrimSpace(string(b))
		case "recipe":
			if src.Recipe, err = recipeFromText(string(b)); err != nil {
				return source{}, err
			}
		}
	}
	return src, nil
}

// multipartErr keeps a *http.MaxBytesError as it is and makes other parse errors invalid requests.
func multipartErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return mbe
	}
	return fmt.Errorf("%w: multipart: %w", catalog.ErrInvalid, err)
}
