package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pictor/pictor/api"
)

// minProgressBytes is the smallest manifest whose upload reports progress: smaller ones
// upload without a progress line.
const minProgressBytes = 1 << 20

// batchClient speaks the batch routes of the HTTP API.
type batchClient struct {
	http *http.Client
	base string // scheme://host[/prefix], no trailing slash
	key  string // "" sends no Authorization
}

// batchProblemError is an error answer of the service: its problem+json, or the status
// and the start of the body when the answer is not problem+json (a proxy's page, say).
type batchProblemError struct {
	Status int
	Title  string
	Detail string
	Errors []api.FieldError
	// Trial and MinAccuracy are the report a refused start carries (409).
	Trial       *api.TrialView
	MinAccuracy *float64
}

// Error is "title: detail", then one line per invalid field.
func (e *batchProblemError) Error() string {
	var s strings.Builder
	s.WriteString(printable(e.Title))
	if e.Detail != "" {
		s.WriteString(": " + printable(e.Detail))
	}
	for _, f := range e.Errors {
		fmt.Fprintf(&s, "\n  %s: %s", printable(f.Field), printable(f.Message))
	}
	return s.String()
}

// transient reports whether a failed poll is worth repeating: the service unreachable,
// overloaded or failing, rather than refusing.
func transient(err error) bool {
	var pe *batchProblemError
	if errors.As(err, &pe) {
		return pe.Status >= 500 || pe.Status == http.StatusTooManyRequests
	}
	return true
}

// do sends a request and returns a 2xx response (its body to be closed by the caller),
// or the answer's error as a *batchProblemError.
func (c *batchClient) do(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json, "+api.ProblemContentType)
	req.Header.Set("User-Agent", "pictor-cli/"+version)
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("reach the service at %s (--server, PICTOR_SERVER): %w", c.base, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	pe := &batchProblemError{Status: resp.StatusCode}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var p api.Problem
	if (mt == api.ProblemContentType || mt == "application/json") && json.Unmarshal(data, &p) == nil && p.Title != "" {
		pe.Title, pe.Detail, pe.Errors = p.Title, p.Detail, p.Errors
		var ext struct {
			Trial       *api.TrialView `json:"trial"`
			MinAccuracy *float64       `json:"min_accuracy"`
		}
		if json.Unmarshal(data, &ext) == nil {
			pe.Trial, pe.MinAccuracy = ext.Trial, ext.MinAccuracy
		}
	} else {
		pe.Title = fmt.Sprintf("%s %s answered %s", method, path, resp.Status)
		pe.Detail = strings.Join(strings.Fields(string(data[:min(len(data), 200)])), " ")
	}
	if resp.StatusCode == http.StatusUnauthorized && c.key == "" {
		hint := "no API key given: set PICTOR_API_KEY or --key"
		if pe.Detail != "" {
			hint = pe.Detail + " (" + hint + ")"
		}
		pe.Detail = hint
	}
	return nil, pe
}

// call is do for a JSON answer: its bytes, at most 64 MiB.
func (c *batchClient) call(ctx context.Context, method, path, contentType string, body io.Reader) ([]byte, error) {
	resp, err := c.do(ctx, method, path, contentType, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	return data, nil
}

// callBatch is call for an answer that is one batch.
func (c *batchClient) callBatch(ctx context.Context, method, path, contentType string, body io.Reader) (api.BatchView, []byte, error) {
	raw, err := c.call(ctx, method, path, contentType, body)
	if err != nil {
		return api.BatchView{}, nil, err
	}
	var bt api.BatchView
	if err := json.Unmarshal(raw, &bt); err != nil {
		return api.BatchView{}, nil, fmt.Errorf("%s %s: decode the batch: %w", method, path, err)
	}
	if bt.ID == "" {
		return api.BatchView{}, nil, fmt.Errorf("%s %s: the answer is not a batch", method, path)
	}
	return bt, raw, nil
}

func batchPath(id string) string { return "/v1/batches/" + url.PathEscape(id) }

// get fetches a batch, and the server's JSON of it.
func (c *batchClient) get(ctx context.Context, id string) (api.BatchView, []byte, error) {
	return c.callBatch(ctx, http.MethodGet, batchPath(id), "", nil)
}

// actionBody is the JSON body of an action: "" when it has nothing to say.
func actionBody(force bool, maxCost *float64) string {
	in := map[string]any{}
	if force {
		in["force"] = true
	}
	if maxCost != nil {
		in["max_cost"] = *maxCost
	}
	if len(in) == 0 {
		return ""
	}
	b, _ := json.Marshal(in)
	return string(b)
}

// create posts a batch as JSON (a selection or a manifest_url): fields with an empty
// value are left out; recipe, filter, selection and prompt_vars are JSON already.
func (c *batchClient) create(ctx context.Context, fields [][2]string) (api.BatchView, error) {
	in := map[string]any{}
	for _, kv := range fields {
		k, v := kv[0], kv[1]
		if v == "" {
			continue
		}
		switch k {
		case "filter", "selection", "prompt_vars":
			in[k] = json.RawMessage(v)
		case "recipe":
			if strings.HasPrefix(v, "{") {
				in[k] = json.RawMessage(v)
			} else {
				in[k] = v
			}
		case "min_accuracy", "max_cost", "variants":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return api.BatchView{}, fmt.Errorf("%s %q: want a number", k, v)
			}
			in[k] = f
		case "start_force":
			in[k] = v == "true"
		default:
			in[k] = v
		}
	}
	body, err := json.Marshal(in)
	if err != nil {
		return api.BatchView{}, err
	}
	bt, _, err := c.callBatch(ctx, http.MethodPost, "/v1/batches", "application/json", bytes.NewReader(body))
	return bt, err
}

// act posts one of start, pause, resume, cancel, retry, with body (JSON) when not "".
func (c *batchClient) act(ctx context.Context, id, action string, body ...string) (api.BatchView, error) {
	var (
		rd io.Reader
		ct string
	)
	if len(body) > 0 && body[0] != "" {
		rd, ct = strings.NewReader(body[0]), "application/json"
	}
	bt, _, err := c.callBatch(ctx, http.MethodPost, batchPath(id)+"/"+action, ct, rd)
	return bt, err
}

// trial runs a trial of sample rows (0: the server's default).
func (c *batchClient) trial(ctx context.Context, id string, sample int) (api.BatchView, error) {
	var body io.Reader
	ct := ""
	if sample > 0 {
		body, ct = strings.NewReader(fmt.Sprintf(`{"sample":%d}`, sample)), "application/json"
	}
	bt, _, err := c.callBatch(ctx, http.MethodPost, batchPath(id)+"/trial", ct, body)
	return bt, err
}

// upload creates a batch: the fields, then the manifest file, streamed as multipart
// through a pipe so the file is never held in memory. progress, when not nil, hears of
// each further percent sent.
func (c *batchClient) upload(ctx context.Context, manifest string, fields [][2]string, progress func(sent, size int64, done bool)) (api.BatchView, error) {
	f, err := os.Open(manifest)
	if err != nil {
		return api.BatchView{}, fmt.Errorf("manifest: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return api.BatchView{}, fmt.Errorf("manifest: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return api.BatchView{}, fmt.Errorf("manifest %s: not a regular file", manifest)
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	src := &manifestReader{r: f, size: fi.Size()}
	if fi.Size() >= minProgressBytes {
		src.report = progress
	}
	written := make(chan struct{})
	go func() {
		defer close(written)
		err := func() error {
			for _, kv := range fields {
				if err := mw.WriteField(kv[0], kv[1]); err != nil {
					return err
				}
			}
			part, err := mw.CreateFormFile("manifest", filepath.Base(manifest))
			if err != nil {
				return err
			}
			if _, err := io.Copy(part, src); err != nil {
				return err
			}
			return mw.Close()
		}()
		pw.CloseWithError(err) // nil: the body ends; else the request fails with err
	}()
	bt, _, err := c.callBatch(ctx, http.MethodPost, "/v1/batches", mw.FormDataContentType(), pr)
	pr.Close() // unblocks the writer if the server answered before reading everything
	<-written
	if src.err != nil && ctx.Err() == nil {
		return api.BatchView{}, fmt.Errorf("read manifest %s: %w", manifest, src.err)
	}
	if src.report != nil && src.shown > 0 {
		progress(src.sent, src.size, true) // ends the progress line
	}
	return bt, err
}

// manifestReader reads the manifest for upload, keeping its read error apart from the
// request's, and reports progress each time another percent of size has been read.
type manifestReader struct {
	r      io.Reader
	size   int64
	sent   int64
	shown  int64
	err    error
	report func(sent, size int64, done bool)
}

func (m *manifestReader) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	m.sent += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		m.err = err
	}
	if m.report != nil && m.size > 0 {
		if pct := m.sent * 100 / m.size; pct > m.shown {
			m.shown = pct
			m.report(m.sent, m.size, false)
		}
	}
	return n, err
}
