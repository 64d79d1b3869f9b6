package sdclient

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// NamesTTL is how long a Client keeps the sampler, checkpoint and upscaler
// lists that CheckNames uses before fetching them again: 5 minutes.
const NamesTTL = 5 * time.Minute

// namesRefetchAfter is the age after which a name missing from a cached
// list makes CheckNames fetch the list again before refusing the name.
const namesRefetchAfter = 30 * time.Second

// Names are the names a request is about to use; empty ones are not
// checked.
type Names struct {
	// Sampler is a sampler name or alias, optionally followed by a
	// scheduler label ("DPM++ 2M Karras"); default "" is not checked.
	Sampler string
	// Checkpoint is an SDModel title, model name or hash; default "" is not
	// checked.
	Checkpoint string
	// Upscaler is an Upscaler name; default "" is not checked.
	Upscaler string
	// RembgModel is a name from RembgModels; default "" is not checked.
	RembgModel string
}

// UnknownNameError names a sampler, checkpoint, upscaler or rembg model
// that the backend does not offer. It matches ErrUnknownName and
// ErrBadRequest.
type UnknownNameError struct {
	// Kind is "sampler", "checkpoint", "upscaler" or "rembg model".
	Kind string
	// Name is the refused name.
	Name string
	// Backend is the backend's Name().
	Backend string
}

// Error formats the error.
func (e *UnknownNameError) Error() string {
	return fmt.Sprintf("sd unknown %s %q on %s", e.Kind, e.Name, e.Backend)
}

// Is matches ErrUnknownName and ErrBadRequest.
func (e *UnknownNameError) Is(target error) bool {
	return target == ErrUnknownName || target == ErrBadRequest
}

// nameList is one cached list endpoint.
type nameList struct {
	mu      sync.Mutex
	names   map[string]bool
	fetched time.Time
}

// nameCache holds a Client's cached lists; copies of a Client share it.
type nameCache struct {
	samplers, checkpoints, upscalers nameList
}

func newNameCache() *nameCache { return &nameCache{} }

// CheckNames checks every non-empty name against the backend's list
// endpoints (samplers, sd-models, upscalers) and the known rembg models,
// because the WebUI silently falls back to a default on an unknown name
// (pitfall 9). The lists are cached per Client for NamesTTL; a name missing
// from a list older than 30 s makes it fetch the list once more. It returns
// an *UnknownNameError for the first unknown name, or the error of a list
// call.
func (c *Client) CheckNames(ctx context.Context, n Names) error {
	if n.Sampler != "" {
		ok, err := c.has(ctx, &c.names.samplers, c.fetchSamplers, samplerKeys(n.Sampler)...)
		if err != nil {
			return fmt.Errorf("check sampler: %w", err)
		}
		if !ok {
			return &UnknownNameError{Kind: "sampler", Name: n.Sampler, Backend: c.backend.Name()}
		}
	}
	if n.Checkpoint != "" {
		ok, err := c.has(ctx, &c.names.checkpoints, c.fetchCheckpoints, n.Checkpoint)
		if err != nil {
			return fmt.Errorf("check checkpoint: %w", err)
		}
		if !ok {
			return &UnknownNameError{Kind: "checkpoint", Name: n.Checkpoint, Backend: c.backend.Name()}
		}
	}
	if n.Upscaler != "" {
		ok, err := c.has(ctx, &c.names.upscalers, c.fetchUpscalers, n.Upscaler)
		if err != nil {
			return fmt.Errorf("check upscaler: %w", err)
		}
		if !ok {
			return &UnknownNameError{Kind: "upscaler", Name: n.Upscaler, Backend: c.backend.Name()}
		}
	}
	if n.RembgModel != "" && !slices.Contains(RembgModels(), n.RembgModel) {
		return &UnknownNameError{Kind: "rembg model", Name: n.RembgModel, Backend: c.backend.Name()}
	}
	return nil
}

// has reports whether any key is in the list, fetching it when it is
// missing, expired, or old enough to be refreshed on a miss.
func (c *Client) has(ctx context.Context, l *nameList, fetch func(context.Context) (map[string]bool, error), keys ...string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	contains := func() bool {
		for _, k := range keys {
			if l.names[k] {
				return true
			}
		}
		return false
	}
	age := time.Since(l.fetched)
	if l.names != nil && age < NamesTTL && (contains() || age < namesRefetchAfter) {
		return contains(), nil
	}
	names, err := fetch(ctx)
	if err != nil {
		return false, err
	}
	l.names, l.fetched = names, time.Now()
	return contains(), nil
}

// samplerKeys are the lower-cased forms under which a sampler name may be
// listed: itself, and itself without a trailing scheduler label.
func samplerKeys(name string) []string {
	keys := []string{strings.ToLower(name)}
	// The scheduler labels A1111 1.10 strips from the end of an old-style
	// sampler name.
	labels := []string{
		"Automatic", "Uniform", "Karras", "Exponential", "Polyexponential", "SGM Uniform",
		"KL Optimal", "Align Your Steps", "Simple", "Normal", "DDIM", "Beta",
	}
	for _, label := range labels {
		if base, ok := strings.CutSuffix(name, " "+label); ok && base != "" {
			keys = append(keys, strings.ToLower(base))
		}
	}
	return keys
}

func (c *Client) fetchSamplers(ctx context.Context) (map[string]bool, error) {
	list, err := c.Samplers(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string]bool)
	for _, s := range list {
		m[strings.ToLower(s.Name)] = true
		for _, a := range s.Aliases {
			m[strings.ToLower(a)] = true
		}
	}
	return m, nil
}

func (c *Client) fetchCheckpoints(ctx context.Context) (map[string]bool, error) {
	list, err := c.SDModels(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string]bool)
	for _, s := range list {
		for _, k := range []string{s.Title, s.ModelName, s.Hash, s.SHA256, s.Filename} {
			if k != "" {
				m[k] = true
			}
		}
		// "x.safetensors [6ce0161689]" is also known as "x.safetensors".
		if i := strings.LastIndex(s.Title, " ["); i > 0 && strings.HasSuffix(s.Title, "]") {
			m[s.Title[:i]] = true
		}
	}
	return m, nil
}

func (c *Client) fetchUpscalers(ctx context.Context) (map[string]bool, error) {
	list, err := c.Upscalers(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string]bool)
	for _, u := range list {
		m[u.Name] = true
	}
	return m, nil
}
