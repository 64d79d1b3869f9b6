package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/imaging"
)

// imageStore is what the image routes need: ingest, the stored images and their bytes.
type imageStore interface {
	Ingest(ctx context.Context, req catalog.IngestRequest) (*catalog.IngestResult, error)
	GetImage(ctx context.Context, id string) (catalog.Image, error)
	ListImages(ctx context.Context, q catalog.ListImagesQuery) ([]catalog.Image, string, error)
	OpenOriginal(ctx context.Context, id string) (io.ReadCloser, catalog.ObjectMeta, error)
	RecipeNeedsSD(ctx context.Context, ref catalog.RecipeRef) (bool, []byte, error)
	// Admit holds n bytes of the memory budget for sources, for an upload about to be read.
	Admit(ctx context.Context, n int64) (*imaging.Reservation, error)
}

// Limits of GET /v1/images.
const (
	defaultListLimit = 50
	maxListLimit     = 200
)

// handleIngest serves POST /v1/images: JSON {"url","sku","recipe","meta"}, a multipart upload or
// raw image bytes. 201 with the image and, when a recipe was given, its renditions.
func (s *server) handleIngest() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		src, err := s.readSource(w, r, true)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		defer src.release()
		// A recipe that needs the GPU runs as a job after the original is stored.
		var gpuRecipe []byte
		if !src.Recipe.IsZero() {
			needsSD, canonical, err := s.catalog.RecipeNeedsSD(r.Context(), src.Recipe)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if needsSD {
				gpuRecipe, src.Recipe = canonical, catalog.RecipeRef{}
			}
		}
		res, err := s.catalog.Ingest(r.Context(), catalog.IngestRequest{
			URL:    src.URL,
			Data:   src.Data,
			SKU:    src.SKU,
			Recipe: src.Recipe,
			Accept: acceptedFormats(r.URL.Query().Get("accept")),
			Meta:   src.Meta,
			// The upload's bytes were admitted when it was read.
			Admitted: src.mem != nil,
		})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if res == nil {
			s.writeError(w, r, fmt.Errorf("ingest returned no result"))
			return
		}
		if gpuRecipe != nil {
			wait, err := parseWait(r.URL.Query().Get("wait"))
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			s.renderAsync(w, r, &res.Image, res.Image.ID, gpuRecipe, wait)
			return
		}
		w.Header().Set("Location", "/v1/images/"+url.PathEscape(res.Image.ID))
		s.writeJSON(w, r, http.StatusCreated, res)
	}
}

// imageList is the body of GET /v1/images.
type imageList struct {
	Images     []catalog.Image `json:"images"`
	NextCursor string          `json:"next_cursor"`
}

// handleListImages serves GET /v1/images?cursor=&limit= (limit 1..200, default 50) with a
// selection in the other parameters (selectionFromQuery): the matching images in ingest
// order, with their metadata.
func (s *server) handleListImages() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit := defaultListLimit
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxListLimit {
				s.writeError(w, r, fmt.Errorf("%w: limit must be an integer from 1 to %d, got %q", catalog.ErrInvalid, maxListLimit, v))
				return
			}
			limit = n
		}
		cursor := q.Get("cursor")
		q.Del("limit")
		q.Del("cursor")
		sel, err := selectionFromQuery(q)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		images, next, err := s.catalog.ListImages(r.Context(), catalog.ListImagesQuery{
			Selection: sel,
			Cursor:    cursor,
			Limit:     limit,
		})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if images == nil {
			images = []catalog.Image{}
		}
		s.writeJSON(w, r, http.StatusOK, imageList{Images: images, NextCursor: next})
	}
}

// handleGetImage serves GET /v1/images/{id}.
func (s *server) handleGetImage() http.HandlerFunc { return serveGet(s, "id", s.catalog.GetImage) }

// handleImageContent serves GET /v1/images/{id}/content: the original bytes.
func (s *server) handleImageContent() http.HandlerFunc {
	return s.serveOpened(s.catalog.OpenOriginal, "")
}

// quoteETag makes a strong entity tag of an opaque value: quoted, never weak.
func quoteETag(v string) string {
	v = strings.TrimPrefix(v, "W/")
	if len(v) >= 2 && strings.HasPrefix(v, `"`) && strings.HasSuffix(v, `"`) {
		return v
	}
	return `"` + strings.Trim(v, `"`) + `"`
}

// etagMatches reports whether an If-None-Match header value matches etag (weak
// comparison, as RFC 9110 requires for If-None-Match).
func etagMatches(header, etag string) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" {
			return true
		}
		if strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
	}
	return false
}

// serveGet answers GET of one resource named by the URL parameter param: 200 with what get
// returns, or its error as a problem.
func serveGet[T any](s *server, param string, get func(context.Context, string) (T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := get(r.Context(), chi.URLParam(r, param))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeJSON(w, r, http.StatusOK, v)
	}
}

// serveOpened answers GET of the bytes open returns for the URL parameter id, with
// serveContent's headers and cacheControl.
func (s *server) serveOpened(open func(context.Context, string) (io.ReadCloser, catalog.ObjectMeta, error), cacheControl string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rc, meta, err := open(r.Context(), chi.URLParam(r, "id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if meta.Held {
			if !mayReview(r) {
				rc.Close()
				s.heldForReview(w, r)
				return
			}
			// A reviewer's copy: the decision may change, so nothing keeps it.
			cacheControl = "private, no-store"
		}
		s.serveContent(w, r, rc, meta, cacheControl)
	}
}

// serveContent streams stored bytes with Content-Type, Content-Length and a strong ETag;
// a matching If-None-Match answers 304 without a body. It closes rc.
func (s *server) serveContent(w http.ResponseWriter, r *http.Request, rc io.ReadCloser, meta catalog.ObjectMeta, cacheControl string) {
	defer rc.Close()
	h := w.Header()
	etag := ""
	if meta.ETag != "" {
		etag = quoteETag(meta.ETag)
		h.Set("ETag", etag)
	}
	if cacheControl != "" {
		h.Set("Cache-Control", cacheControl)
	}
	if !meta.Modified.IsZero() {
		h.Set("Last-Modified", meta.Modified.UTC().Format(http.TimeFormat))
	}
	if etag != "" {
		if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	ct := meta.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	h.Set("X-Content-Type-Options", "nosniff")
	if meta.Size > 0 {
		h.Set("Content-Length", strconv.FormatInt(meta.Size, 10))
	}
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		// The status is sent; all that is left is to log why the body is short.
		s.log.WarnContext(r.Context(), "stream content",
			"request_id", requestIDFrom(r.Context()), "path", r.URL.Path, "error", err.Error())
	}
}
