package sdclient

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// NamesTTL is how long a Client keeps the sampler, scheduler, checkpoint
// and upscaler lists that CheckNames uses, and the flavor Flavor detected,
// before fetching them again: 5 minutes.
const NamesTTL = 5 * time.Minute

// namesRefetchAfter is the age after which a name missing from a cached
// list makes CheckNames fetch the list again before refusing the name.
const namesRefetchAfter = 30 * time.Second

// maxSuggestions bounds UnknownNameError.Suggestions.
const maxSuggestions = 5

// Names are the names a request is about to use; empty ones are not
// checked. Each is matched exactly as the backend matches it, case
// included: the WebUI looks names up exactly and silently uses its default
// for anything else.
type Names struct {
	// Sampler is a sampler name exactly as GET /samplers lists it (not an
	// alias: the API ignores aliases), optionally followed by a space and a
	// scheduler label, name or alias from GET /schedulers ("DPM++ 2M
	// Karras"); default "" is not checked.
	Sampler string
	// Scheduler is a scheduler name or label exactly as GET /schedulers
	// lists it (Forge's own schedulers included); default "" is not
	// checked.
	Scheduler string
	// Checkpoint is a checkpoint as sd_model_checkpoint accepts it: an
	// SDModel title, its name without the hash, model name, short hash or
	// sha256. A file path is refused: the backend would drop the override
	// silently. Default "" is not checked.
	Checkpoint string
	// Upscaler is an Upscaler name; default "" is not checked.
	Upscaler string
	// RembgModel is a name from RembgModels on a WebUI, or a model the
	// server lists on a rembg server (RembgServerInfo; those that need
	// extras Pictor does not send are refused); default "" is not checked.
	RembgModel string
}

// UnknownNameError names a sampler, scheduler, checkpoint, upscaler or
// rembg model that the backend does not offer under that exact name. It
// matches ErrUnknownName and ErrBadRequest.
type UnknownNameError struct {
	// Kind is "sampler", "scheduler", "checkpoint", "upscaler" or "rembg
	// model".
	Kind string
	// Name is the refused name.
	Name string
	// Backend is the backend's Name().
	Backend string
	// Suggestions are names the backend does list that are close to Name
	// (same letters in another case, an alias, the title of a checkpoint
	// file, a small misspelling), best first, at most 5; none when nothing
	// is close.
	Suggestions []string
	// Reason says why a name of that form cannot work, e.g. for a file
	// path; "" when it is simply not listed.
	Reason string
}

// Error formats the error with its reason and close matches.
func (e *UnknownNameError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sd unknown %s %q on %s", e.Kind, e.Name, e.Backend)
	if e.Reason != "" {
		b.WriteString(" (" + e.Reason + ")")
	} else {
		b.WriteString(" (names are matched exactly as the backend lists them)")
	}
	if len(e.Suggestions) > 0 {
		q := make([]string, len(e.Suggestions))
		for i, s := range e.Suggestions {
			q[i] = fmt.Sprintf("%q", s)
		}
		b.WriteString(": close matches " + strings.Join(q, ", "))
	}
	return b.String()
}

// Is matches ErrUnknownName and ErrBadRequest.
func (e *UnknownNameError) Is(target error) bool {
	return target == ErrUnknownName || target == ErrBadRequest
}

// nameSet is what one list endpoint accepts.
type nameSet struct {
	// ok holds every accepted spelling.
	ok map[string]bool
	// canon are the names to suggest, as the backend lists them.
	canon []string
	// hints maps other spellings (lower-cased names, aliases, file paths
	// and base names) to the name to suggest instead.
	hints map[string]string
}

func newNameSet() *nameSet { return &nameSet{ok: map[string]bool{}, hints: map[string]string{}} }

// add accepts name and offers it as a suggestion.
func (n *nameSet) add(name string) {
	if name == "" || n.ok[name] {
		return
	}
	n.ok[name] = true
	n.canon = append(n.canon, name)
}

// hint maps a wrong spelling to a suggestion, unless it is accepted.
func (n *nameSet) hint(from, to string) {
	if from != "" && !n.ok[from] {
		if _, dup := n.hints[from]; !dup {
			n.hints[from] = to
		}
	}
}

// suggest returns the close matches of a name the set does not accept.
func (n *nameSet) suggest(name string) []string {
	var out []string
	addOut := func(s string) {
		if s != "" && !slices.Contains(out, s) && len(out) < maxSuggestions {
			out = append(out, s)
		}
	}
	lower := strings.ToLower(name)
	addOut(n.hints[name])
	addOut(n.hints[lower])
	if strings.ContainsAny(name, `/\`) {
		base := path.Base(strings.ReplaceAll(name, `\`, "/"))
		addOut(n.hints[base])
		addOut(n.hints[strings.ToLower(base)])
	}
	type scored struct {
		name string
		d    int
	}
	var close []scored
	limit := max(2, len(name)/4)
	for _, c := range n.canon {
		lc := strings.ToLower(c)
		switch {
		case lc == lower:
			close = append(close, scored{c, 0})
		case len(lower) >= 3 && (strings.Contains(lc, lower) || strings.Contains(lower, lc)):
			close = append(close, scored{c, 1 + abs(len(lc)-len(lower))})
		default:
			if d := editDistance(lc, lower); d <= limit {
				close = append(close, scored{c, d})
			}
		}
	}
	slices.SortStableFunc(close, func(a, b scored) int { return a.d - b.d })
	for _, c := range close {
		addOut(c.name)
	}
	return out
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// editDistance is the Levenshtein distance of two strings, by bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// schedulerEntry is an entry of GET /sdapi/v1/schedulers.
type schedulerEntry struct {
	Name    string   `json:"name"`
	Label   string   `json:"label"`
	Aliases []string `json:"aliases"`
}

// a1111Schedulers are A1111 1.10's schedulers, used when a backend has no
// /schedulers route (before 1.9 it had no scheduler field either, but it
// split these labels off a sampler name just the same).
var a1111Schedulers = []schedulerEntry{
	{"automatic", "Automatic", nil}, {"uniform", "Uniform", nil}, {"karras", "Karras", nil},
	{"exponential", "Exponential", nil}, {"polyexponential", "Polyexponential", nil},
	{"sgm_uniform", "SGM Uniform", []string{"SGMUniform"}}, {"kl_optimal", "KL Optimal", nil},
	{"align_your_steps", "Align Your Steps", nil}, {"simple", "Simple", nil}, {"normal", "Normal", nil},
	{"ddim", "DDIM", nil}, {"beta", "Beta", nil},
}

// cached is one cached list (or other fact) of the backend.
type cached[T any] struct {
	mu      sync.Mutex
	val     T
	have    bool
	fetched time.Time
}

// get returns the cached value, fetching it when missing or expired, or
// when stale (older than namesRefetchAfter) and fresh(val) is false.
func (c *cached[T]) get(ctx context.Context, fetch func(context.Context) (T, error), fresh func(T) bool) (T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	age := time.Since(c.fetched)
	if c.have && age < NamesTTL && (age < namesRefetchAfter || fresh == nil || fresh(c.val)) {
		return c.val, nil
	}
	v, err := fetch(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	c.val, c.have, c.fetched = v, true, time.Now()
	return v, nil
}

// nameCache holds a Client's cached lists; copies of a Client share it.
type nameCache struct {
	samplers, checkpoints, upscalers cached[*nameSet]
	rembgServer                      cached[*nameSet]
	schedulers                       cached[[]schedulerEntry]
	flavor                           cached[Flavor]
}

func newNameCache() *nameCache { return &nameCache{} }

// CheckNames checks every non-empty name against the backend's list
// endpoints (samplers, schedulers, sd-models, upscalers) and the known
// rembg models, exactly as the backend will look it up, because the WebUI
// silently falls back to a default on an unknown name (pitfall 9). The
// lists are cached per Client for NamesTTL; a name missing from a list
// older than 30 s makes it fetch the list once more. It returns an
// *UnknownNameError, with close matches, for the first unknown name, or the
// error of a list call.
func (c *Client) CheckNames(ctx context.Context, n Names) error {
	unknown := func(kind, name string, set *nameSet, reason string) error {
		e := &UnknownNameError{Kind: kind, Name: name, Backend: c.backend.Name(), Reason: reason}
		if set != nil {
			e.Suggestions = set.suggest(name)
		}
		return e
	}
	if n.Sampler != "" || n.Scheduler != "" {
		scheds, err := c.schedulerList(ctx)
		if err != nil {
			return fmt.Errorf("check scheduler: %w", err)
		}
		if n.Sampler != "" {
			base, suffix := splitScheduler(n.Sampler, scheds)
			set, err := c.names.samplers.get(ctx, c.fetchSamplers, func(s *nameSet) bool { return s.ok[base] })
			if err != nil {
				return fmt.Errorf("check sampler: %w", err)
			}
			if !set.ok[base] {
				e := &UnknownNameError{Kind: "sampler", Name: n.Sampler, Backend: c.backend.Name()}
				for _, s := range set.suggest(base) {
					e.Suggestions = append(e.Suggestions, s+suffix)
				}
				return e
			}
		}
		if n.Scheduler != "" {
			set := newNameSet()
			for _, sc := range scheds {
				set.add(sc.Label)
				set.add(sc.Name)
				for _, a := range sc.Aliases {
					set.hint(a, sc.Label)
					set.hint(strings.ToLower(a), sc.Label)
				}
				set.hint(strings.ToLower(sc.Label), sc.Label)
			}
			if !set.ok[n.Scheduler] {
				return unknown("scheduler", n.Scheduler, set, "")
			}
		}
	}
	if n.Checkpoint != "" {
		set, err := c.names.checkpoints.get(ctx, c.fetchCheckpoints, func(s *nameSet) bool { return s.ok[n.Checkpoint] })
		if err != nil {
			return fmt.Errorf("check checkpoint: %w", err)
		}
		if !set.ok[n.Checkpoint] {
			reason := ""
			if strings.ContainsAny(n.Checkpoint, `/\`) {
				reason = "a file path is not a checkpoint name: the backend would drop the override silently; use the title"
			}
			return unknown("checkpoint", n.Checkpoint, set, reason)
		}
	}
	if n.Upscaler != "" {
		set, err := c.names.upscalers.get(ctx, c.fetchUpscalers, func(s *nameSet) bool { return s.ok[n.Upscaler] })
		if err != nil {
			return fmt.Errorf("check upscaler: %w", err)
		}
		if !set.ok[n.Upscaler] {
			return unknown("upscaler", n.Upscaler, set, "")
		}
	}
	if n.RembgModel != "" && c.kind == KindRembg {
		return c.checkRembgServerModel(ctx, n.RembgModel)
	}
	if n.RembgModel != "" && !slices.Contains(RembgModels(), n.RembgModel) {
		set := newNameSet()
		for _, m := range RembgModels() {
			set.add(m)
		}
		return unknown("rembg model", n.RembgModel, set, "")
	}
	return nil
}

// splitScheduler is the first half of the WebUI's get_sampler_and_scheduler:
// for each scheduler in list order, a trailing space and its label, name or
// alias is cut off the sampler name. It returns what remains and what was
// cut off (with its space).
func splitScheduler(name string, scheds []schedulerEntry) (string, string) {
	base := name
	for _, sc := range scheds {
		for _, o := range append([]string{sc.Label, sc.Name}, sc.Aliases...) {
			if o != "" && strings.HasSuffix(base, " "+o) {
				base = base[:len(base)-len(o)-1]
				break
			}
		}
	}
	return base, name[len(base):]
}

// schedulerList returns the backend's schedulers, or A1111's when it has no
// /schedulers route.
func (c *Client) schedulerList(ctx context.Context) ([]schedulerEntry, error) {
	return c.names.schedulers.get(ctx, func(ctx context.Context) ([]schedulerEntry, error) {
		var out []schedulerEntry
		err := c.call(ctx, epSchedulers, nil, nil, &out)
		if errors.Is(err, ErrNotFound) {
			return a1111Schedulers, nil
		}
		return out, err
	}, nil)
}

func (c *Client) fetchSamplers(ctx context.Context) (*nameSet, error) {
	list, err := c.Samplers(ctx)
	if err != nil {
		return nil, err
	}
	set := newNameSet()
	for _, s := range list {
		set.add(s.Name)
	}
	for _, s := range list {
		set.hint(strings.ToLower(s.Name), s.Name)
		for _, a := range s.Aliases {
			set.hint(a, s.Name)
			set.hint(strings.ToLower(a), s.Name)
		}
	}
	return set, nil
}

// fetchCheckpoints lists what checkpoint_aliases accepts for each model:
// title, name (the title without its hash), model name, short hash, sha256,
// the file's base name without extension, and that with the hash. File
// paths and base names with an extension are hints towards the title.
func (c *Client) fetchCheckpoints(ctx context.Context) (*nameSet, error) {
	list, err := c.SDModels(ctx)
	if err != nil {
		return nil, err
	}
	set := newNameSet()
	for _, s := range list {
		set.add(s.Title)
	}
	for _, s := range list {
		name := s.Title
		if i := strings.LastIndex(s.Title, " ["); i > 0 && strings.HasSuffix(s.Title, "]") {
			name = s.Title[:i]
		}
		base := path.Base(strings.ReplaceAll(s.Filename, `\`, "/"))
		forExtra := strings.TrimSuffix(base, path.Ext(base))
		ids := []string{name, s.ModelName, s.Hash, s.SHA256}
		if s.Filename != "" {
			ids = append(ids, forExtra)
			if s.Hash != "" {
				ids = append(ids, forExtra+" ["+s.Hash+"]")
			}
		}
		for _, id := range ids {
			if id != "" {
				set.ok[id] = true
			}
		}
		set.hint(s.Filename, s.Title)
		set.hint(base, s.Title)
		set.hint(strings.ToLower(base), s.Title)
		set.hint(strings.ToLower(name), s.Title)
	}
	return set, nil
}

func (c *Client) fetchUpscalers(ctx context.Context) (*nameSet, error) {
	list, err := c.Upscalers(ctx)
	if err != nil {
		return nil, err
	}
	set := newNameSet()
	for _, u := range list {
		set.add(u.Name)
	}
	return set, nil
}

// Flavor is the kind of WebUI a backend runs.
type Flavor string

// The flavors Flavor tells apart.
const (
	// FlavorA1111 is AUTOMATIC1111's stable-diffusion-webui.
	FlavorA1111 Flavor = "a1111"
	// FlavorForge is lllyasviel's stable-diffusion-webui-forge, whose API
	// adds fields (hr_cfg, distilled_cfg_scale) with defaults of its own.
	FlavorForge Flavor = "forge"
)

// Flavor tells Forge from A1111 by a route only Forge has (GET
// /sdapi/v1/sd-modules, which replaces /sd-vae). The answer is cached for
// NamesTTL.
func (c *Client) Flavor(ctx context.Context) (Flavor, error) {
	return c.names.flavor.get(ctx, func(ctx context.Context) (Flavor, error) {
		err := c.call(ctx, epSDModules, nil, nil, nil)
		switch {
		case err == nil:
			return FlavorForge, nil
		case errors.Is(err, ErrNotFound):
			return FlavorA1111, nil
		}
		return "", err
	}, nil)
}
