package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pictor/pictor/api"
)

const batchUsage = `Usage: pictor batch [--server URL] [--key KEY] COMMAND [flags] [ARGS]

Runs and follows batches on a running Pictor service.

Commands:
  submit MANIFEST --recipe NAME|@FILE.json|'{JSON}' [--name N] [--filter JSON|@FILE]
         [--trial N] [--min-accuracy A] [--max-cost C] [--review none|failed|all]
         [--force] [--no-start] [--detach] [--start-at TIME]
         [--prompt TEMPLATE] [--prompt-var VAR=COLUMN ...] [--variants N]
                    upload a manifest (CSV, JSONL or XLSX), print the batch id on stdout,
                    optionally run a trial of N rows and print its report (accuracy,
                    failures per check, failing samples) and the estimate, start the
                    batch and show its progress until it ends (--detach: do not wait;
                    --no-start: leave it a draft). A trial below --min-accuracy (default
                    the server's, 0.95) does not start unless --force. Exit 1 when any
                    item failed or the batch was not started.
                    --start-at (RFC 3339, or +DURATION such as +2h): the server starts
                    it then (a recipe with AI steps is trialled at once and starts only
                    if the trial passes, unless --force). --prompt fills the recipe's
                    replace_background prompt from each row's columns ("a {title} on
                    oak"; --prompt-var product=title maps {product} to column title);
                    --variants paints N backgrounds per item.
  submit --select JSON|@FILE [--recipe R | --from-scene SCENE] [flags as above]
                    a batch of the stored images the selection matches (the query of
                    GET /v1/images, as JSON); --from-scene takes the recipe from an
                    approved scene (its prompt, seed and settings)
  submit --manifest-url URL [--schedule CRON] --recipe R [flags as above]
                    the server fetches the manifest; with --schedule it re-reads it when
                    due and runs the rows it has not seen (known by URL or image id
                    with SKU; new rows of an AI recipe are trialled first)
  wait ID           show a started batch's progress until it ends (exit 1 on failures)
  status ID [--json]
                    counts, rate, ETA, spend and estimate (--json: the server's JSON)
  list [--json]     the latest batches
  trial ID [--sample N]
                    run N sample rows (default 20), wait for them, print the report
  start|pause|resume|cancel|retry ID [--wait] [--force] [--max-cost C] [--at TIME]
                    steer a batch (retry queues its failed items again; --wait, for
                    start, resume and retry: then show its progress as submit does;
                    --force: start or retry below the trial's min_accuracy, or resume
                    past the batch's max_cost; --max-cost, for resume: raise the cap;
                    --at, for start: start it then, RFC 3339 or +DURATION)
  results ID [--format csv|jsonl|xlsx] [-o FILE]
                    stream the per-row results to stdout or FILE (xlsx: to a FILE)

Every command takes:
  --server URL      the service (PICTOR_SERVER, default http://localhost:8080)
  --key KEY         its API key, sent as Authorization: Bearer KEY (PICTOR_API_KEY;
                    prefer the variable, flags show in the process list)

Ctrl-C stops waiting; the batch keeps running on the server ('pictor batch wait ID').
`

// defaultBatchServer is the service the batch commands talk to when neither --server
// nor PICTOR_SERVER says otherwise.
const defaultBatchServer = "http://localhost:8080"

// Waiting: how long one poll may take, and how many polls in a row may fail (network
// errors, 5xx, 429: the service restarting, say) before waiting gives up.
const (
	batchPollTimeout     = 30 * time.Second
	batchMaxPollFailures = 120
	maxRecipeFileBytes   = 1 << 20 // the most read from a --recipe, --filter or --select @FILE
	// defaultTrialWait is how long the commands wait for a trial to finish.
	defaultTrialWait = 30 * time.Minute
)

// batchDeps is what the batch commands take from the process; tests pass their own.
type batchDeps struct {
	// client sends every request; it has no overall timeout (uploads and results are long).
	client *http.Client
	// poll is the time between two looks at a running batch: one second.
	poll time.Duration
	// lineEvery is, when stderr is not a terminal, how many polls go by between two
	// progress lines (a change of state always prints one); 0 or 1 prints every poll.
	lineEvery int
	// terminal is whether stderr is a terminal: a redrawn bar, or plain lines.
	terminal bool
	// trialWait bounds the wait for a trial's report; 0 means defaultTrialWait.
	trialWait time.Duration
}

// batch runs "pictor batch".
func batch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runBatch(ctx, args, getenv, stdout, stderr, batchDeps{
		client:    &http.Client{},
		poll:      time.Second,
		lineEvery: 5,
		terminal:  isTerminal(stderr),
	})
}

// batchCmd is one parsed batch command: where the service is, and the streams.
type batchCmd struct {
	batchDeps
	getenv         func(string) string
	stdout, stderr io.Writer
	// server and key as given before the command name; the command's own flags win.
	server, key string
	c           *batchClient
}

// runBatch is batch with its dependencies given.
func runBatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, deps batchDeps) error {
	top := flag.NewFlagSet("pictor batch", flag.ContinueOnError)
	top.SetOutput(stderr)
	top.Usage = func() { fmt.Fprint(stderr, batchUsage) }
	cmd := &batchCmd{batchDeps: deps, getenv: getenv, stdout: stdout, stderr: stderr}
	top.StringVar(&cmd.server, "server", "", "")
	top.StringVar(&cmd.key, "key", "", "")
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	args = top.Args()
	if len(args) == 0 {
		fmt.Fprint(stderr, batchUsage)
		return errUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "submit":
		return cmd.submit(ctx, rest)
	case "wait":
		return cmd.waitCmd(ctx, rest)
	case "status":
		return cmd.status(ctx, rest)
	case "list":
		return cmd.list(ctx, rest)
	case "trial":
		return cmd.trial(ctx, rest)
	case "start", "pause", "resume", "cancel", "retry":
		return cmd.action(ctx, name, rest)
	case "results":
		return cmd.results(ctx, rest)
	case "help":
		fmt.Fprint(stdout, batchUsage)
		return nil
	}
	fmt.Fprintf(stderr, "pictor batch: unknown command %q\n\n%s", name, batchUsage)
	return errUsage
}

// parse parses a command's flags, which may come before, between or after its
// positional arguments, and connects to the service. It returns the positional
// arguments, or errUsage (after printing why) when they are not exactly want.
func (b *batchCmd) parse(fs *flag.FlagSet, args []string, want int, usage string) ([]string, error) {
	fs.SetOutput(b.stderr)
	fs.Usage = func() {
		fmt.Fprintf(b.stderr, "Usage: pictor batch %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	server := fs.String("server", "", "the service's base URL (PICTOR_SERVER, default "+defaultBatchServer+")")
	key := fs.String("key", "", "API key, sent as Authorization: Bearer KEY (PICTOR_API_KEY)")
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errBatchHelp
			}
			return nil, errUsage
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	// want < 0 takes up to -want arguments.
	if want >= 0 && len(pos) != want || want < 0 && len(pos) > -want {
		fs.Usage()
		return nil, errUsage
	}
	base := firstNonEmpty(*server, b.server, b.getenv("PICTOR_SERVER"), defaultBatchServer)
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		fmt.Fprintf(b.stderr, "pictor batch: server %q: want http(s)://host[:port][/prefix] (--server, PICTOR_SERVER)\n", base)
		return nil, errUsage
	}
	b.c = &batchClient{
		http: b.client,
		base: strings.TrimRight(base, "/"),
		key:  firstNonEmpty(*key, b.key, b.getenv("PICTOR_API_KEY")),
	}
	return pos, nil
}

// errBatchHelp is parse's answer to -h: the help is printed and the command succeeds.
var errBatchHelp = errors.New("help")

// helpOK turns parse's errBatchHelp into success.
func helpOK(err error) error {
	if errors.Is(err, errBatchHelp) {
		return nil
	}
	return err
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// submit runs "pictor batch submit".
func (b *batchCmd) submit(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pictor batch submit", flag.ContinueOnError)
	recipe := fs.String("recipe", "", "recipe: a stored recipe's name, @FILE with the recipe JSON, or the JSON itself (required)")
	name := fs.String("name", "", "name of the batch (default: the server names it by date)")
	filter := fs.String("filter", "", "only items whose quality report matches this `when` condition: JSON or @FILE (default: all)")
	trial := fs.Int("trial", 0, "run this many sample rows first (1-200) and print the report and estimate (default 0: no trial)")
	minAccuracy := fs.String("min-accuracy", "", "trial accuracy (0-1) the batch needs to start (default: the server's, 0.95)")
	maxCost := fs.String("max-cost", "", "pause the batch before its spend would pass this, in the server's currency (default: no cap)")
	review := fs.String("review", "", "review policy: none, failed or all (default: failed for recipes with AI steps, else none)")
	force := fs.Bool("force", false, "start even when the trial's accuracy is below min-accuracy, or no trial was run")
	noStart := fs.Bool("no-start", false, "create (and trial) the batch but do not start it")
	detach := fs.Bool("detach", false, "start the batch and exit without waiting for it")
	sel := fs.String("select", "", "make the batch from the stored images this selection matches: JSON or @FILE, instead of a MANIFEST")
	fromScene := fs.String("from-scene", "", "take the recipe from this approved scene (its prompt, seed and settings), instead of --recipe")
	manifestURL := fs.String("manifest-url", "", "the server fetches the manifest from this URL, instead of a MANIFEST upload")
	schedule := fs.String("schedule", "", "with --manifest-url: re-read it on this cron schedule and run the rows not seen before")
	startAt := fs.String("start-at", "", "start the batch at this time (RFC 3339, or +DURATION such as +2h) instead of now")
	prompt := fs.String("prompt", "", "a prompt template filled from each row's columns, for the recipe's replace_background")
	variants := fs.Int("variants", 0, "backgrounds painted per item, 1-8 (default 1)")
	promptVars := map[string]string{}
	fs.Func("prompt-var", "VAR=COLUMN: the template's {VAR} reads COLUMN (repeatable; default: the column named VAR)", func(v string) error {
		k, c, ok := strings.Cut(v, "=")
		if !ok || strings.TrimSpace(k) == "" || strings.TrimSpace(c) == "" {
			return fmt.Errorf("want VAR=COLUMN")
		}
		promptVars[strings.TrimSpace(k)] = strings.TrimSpace(c)
		return nil
	})
	pos, err := b.parse(fs, args, -1, "submit MANIFEST|--select JSON|--manifest-url URL --recipe NAME|@FILE.json|'{JSON}' [flags]")
	if err != nil {
		return helpOK(err)
	}
	sources := 0
	for _, set := range []bool{len(pos) == 1, *sel != "", *manifestURL != ""} {
		if set {
			sources++
		}
	}
	switch {
	case sources != 1:
		fmt.Fprintln(b.stderr, "pictor batch submit: give one of a MANIFEST file, --select or --manifest-url")
		return errUsage
	case (*recipe == "") == (*fromScene == ""):
		fmt.Fprintln(b.stderr, "pictor batch submit: --recipe or --from-scene is required (one of them)")
		return errUsage
	case *schedule != "" && *manifestURL == "":
		fmt.Fprintln(b.stderr, "pictor batch submit: --schedule re-reads a --manifest-url")
		return errUsage
	case *variants < 0 || *variants > 8:
		fmt.Fprintf(b.stderr, "pictor batch submit: --variants %d: want 1 to 8\n", *variants)
		return errUsage
	case *startAt != "" && *trial > 0:
		fmt.Fprintln(b.stderr, "pictor batch submit: --start-at trials a recipe with AI steps by itself; leave out --trial")
		return errUsage
	}
	var at time.Time
	if *startAt != "" {
		if at, err = parseWhen(*startAt, time.Now()); err != nil {
			fmt.Fprintf(b.stderr, "pictor batch submit: --start-at %q: %v\n", *startAt, err)
			return errUsage
		}
	}
	if *trial < 0 || *trial > 200 {
		fmt.Fprintf(b.stderr, "pictor batch submit: --trial %d: want 1 to 200 rows, or 0 for none\n", *trial)
		return errUsage
	}
	for _, n := range []struct {
		flag, v, want string
		max           float64
	}{{"min-accuracy", *minAccuracy, "a number from 0 to 1", 1}, {"max-cost", *maxCost, "a number from 0 up", math.MaxFloat64}} {
		if n.v == "" {
			continue
		}
		if f, err := strconv.ParseFloat(n.v, 64); err != nil || math.IsNaN(f) || f < 0 || f > n.max {
			fmt.Fprintf(b.stderr, "pictor batch submit: --%s %q: want %s\n", n.flag, n.v, n.want)
			return errUsage
		}
	}
	switch *review {
	case "", "none", "failed", "all":
	default:
		fmt.Fprintf(b.stderr, "pictor batch submit: --review %q: want none, failed or all\n", *review)
		return errUsage
	}
	recipeText := ""
	if *recipe != "" {
		if recipeText, err = jsonArg("recipe", *recipe, false); err != nil {
			return b.argError("submit", err)
		}
	}
	selText := ""
	if *sel != "" {
		if selText, err = jsonArg("select", *sel, true); err != nil {
			return b.argError("submit", err)
		}
	}
	filterText := ""
	if *filter != "" {
		if filterText, err = jsonArg("filter", *filter, true); err != nil {
			return b.argError("submit", err)
		}
	}
	var fields [][2]string
	if recipeText != "" {
		fields = append(fields, [2]string{"recipe", recipeText})
	}
	if *name != "" {
		fields = append(fields, [2]string{"name", *name})
	}
	if filterText != "" {
		fields = append(fields, [2]string{"filter", filterText})
	}
	if len(promptVars) > 0 {
		pv, _ := json.Marshal(promptVars)
		fields = append(fields, [2]string{"prompt_vars", string(pv)})
	}
	if *variants > 0 {
		fields = append(fields, [2]string{"variants", strconv.Itoa(*variants)})
	}
	if !at.IsZero() {
		fields = append(fields, [2]string{"start_at", at.UTC().Format(time.RFC3339)})
		if *force {
			fields = append(fields, [2]string{"start_force", "true"})
		}
	}
	for _, kv := range [][2]string{{"min_accuracy", *minAccuracy}, {"max_cost", *maxCost}, {"review", *review},
		{"from_scene", *fromScene}, {"prompt_template", *prompt}} {
		if kv[1] != "" {
			fields = append(fields, kv)
		}
	}

	var bt api.BatchView
	if len(pos) == 1 {
		bt, err = b.c.upload(ctx, pos[0], fields, b.uploadProgress())
	} else {
		extra := [][2]string{{"selection", selText}, {"manifest_url", *manifestURL}, {"schedule", *schedule}}
		bt, err = b.c.create(ctx, append(fields, extra...))
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: the batch was not created")
		}
		return err
	}
	fmt.Fprintln(b.stdout, bt.ID)
	b.printCreated(bt)
	if bt.Total == 0 && *schedule == "" {
		return fmt.Errorf("batch %s: the manifest has no usable rows; nothing to run", bt.ID)
	}
	if !at.IsZero() {
		fmt.Fprintf(b.stderr, "batch %s starts at %s", bt.ID, at.Local().Format(time.RFC3339))
		if bt.State == api.BatchTrialling {
			fmt.Fprint(b.stderr, " if its trial (running now) passes")
		}
		fmt.Fprintf(b.stderr, "; follow it with: pictor batch status %s\n", bt.ID)
		return nil
	}
	notStarted := func(err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: batch %s was created but not started (start it with: pictor batch start %s)", bt.ID, bt.ID)
		}
		return err
	}
	if *trial > 0 {
		fmt.Fprintf(b.stderr, "running a trial of %d rows...\n", *trial)
		if bt, err = b.runTrial(ctx, bt.ID, *trial); err != nil {
			return notStarted(err)
		}
		b.printTrial(b.stderr, bt)
	}
	if *noStart {
		fmt.Fprintf(b.stderr, "batch %s is not started; start it with: pictor batch start %s\n", bt.ID, bt.ID)
		return nil
	}
	if t := bt.Trial; t != nil && t.Done && t.Accuracy < bt.MinAccuracy && !*force {
		return fmt.Errorf("batch %s not started: trial accuracy %.1f%% is below min_accuracy %.1f%% (see the failing samples above; start anyway with: pictor batch start %s --force)",
			bt.ID, t.Accuracy*100, bt.MinAccuracy*100, bt.ID)
	}
	id := bt.ID
	if bt, err = b.c.act(ctx, id, "start", actionBody(*force, nil)); err != nil {
		return notStarted(b.gateError(id, err))
	}
	if *detach {
		fmt.Fprintf(b.stderr, "batch %s started; follow it with: pictor batch wait %s\n", bt.ID, bt.ID)
		return nil
	}
	return b.follow(ctx, bt)
}

// jsonArg reads a flag that holds JSON: @FILE, or the text itself. A recipe that does
// not start with '{' is a stored recipe's name and is passed on as it is.
func jsonArg(what, v string, mustBeJSON bool) (string, error) {
	v = strings.TrimSpace(v)
	if file, ok := strings.CutPrefix(v, "@"); ok {
		data, err := readSmallFile(file, maxRecipeFileBytes)
		if err != nil {
			return "", fmt.Errorf("%s file: %w", what, err)
		}
		v = strings.TrimSpace(string(data))
		if !strings.HasPrefix(v, "{") || !json.Valid([]byte(v)) {
			return "", fmt.Errorf("%s file %s: want a JSON object", what, file)
		}
		return v, nil
	}
	if strings.HasPrefix(v, "{") || mustBeJSON {
		if !strings.HasPrefix(v, "{") || !json.Valid([]byte(v)) {
			return "", &badArgError{fmt.Sprintf("--%s %q: want a JSON object or @FILE", what, v)}
		}
	}
	return v, nil
}

// badArgError is a flag whose value cannot be right: a usage error.
type badArgError struct{ msg string }

func (e *badArgError) Error() string { return e.msg }

// argError prints a badArgError and turns it into errUsage; other errors pass through.
func (b *batchCmd) argError(cmd string, err error) error {
	var bad *badArgError
	if errors.As(err, &bad) {
		fmt.Fprintf(b.stderr, "pictor batch %s: %s\n", cmd, bad.msg)
		return errUsage
	}
	return err
}

func readSmallFile(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, limit)
	}
	return data, nil
}

// runTrial starts a trial and waits for its report, showing its progress.
func (b *batchCmd) runTrial(ctx context.Context, id string, sample int) (api.BatchView, error) {
	bt, err := b.c.trial(ctx, id, sample)
	if err != nil {
		return bt, err
	}
	return b.waitTrial(ctx, bt)
}

// waitTrial polls a trialling batch until its trial is done, for at most trialWait.
func (b *batchCmd) waitTrial(ctx context.Context, bt api.BatchView) (api.BatchView, error) {
	limit := b.trialWait
	if limit <= 0 {
		limit = defaultTrialWait
	}
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(b.poll)
	defer tick.Stop()
	last, failures := -1, 0
	for bt.State == api.BatchTrialling {
		if t := bt.Trial; t != nil && t.Progress.Done != last {
			last = t.Progress.Done
			fmt.Fprintf(b.stderr, "trial %d/%d\n", t.Progress.Done, t.Progress.Total)
		}
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return bt, ctx.Err()
			}
			return bt, fmt.Errorf("the trial of batch %s did not finish within %s; it goes on on the server (see it with: pictor batch status %s)", bt.ID, limit, bt.ID)
		case <-tick.C:
		}
		pctx, pcancel := context.WithTimeout(wctx, batchPollTimeout)
		next, _, err := b.c.get(pctx, bt.ID)
		pcancel()
		switch {
		case err == nil:
			bt, failures = next, 0
		case wctx.Err() != nil:
		case !transient(err):
			return bt, err
		default:
			if failures++; failures >= batchMaxPollFailures {
				return bt, fmt.Errorf("gave up waiting for the trial of batch %s after %d failed polls: %w", bt.ID, failures, err)
			}
		}
	}
	if bt.State != api.BatchReady {
		msg := fmt.Sprintf("the trial of batch %s ended with the batch %s", bt.ID, bt.State)
		if bt.Error != "" {
			msg += ": " + printable(bt.Error)
		}
		return bt, errors.New(msg)
	}
	return bt, nil
}

// gateError prints the trial report a 409 carries and says how to start anyway.
func (b *batchCmd) gateError(id string, err error) error {
	var pe *batchProblemError
	if !errors.As(err, &pe) || pe.Status != http.StatusConflict || (pe.Trial == nil && pe.MinAccuracy == nil) {
		return err
	}
	if pe.Trial != nil {
		bt := api.BatchView{ID: id, Trial: pe.Trial}
		if pe.MinAccuracy != nil {
			bt.MinAccuracy = *pe.MinAccuracy
		}
		b.printTrial(b.stderr, bt)
	}
	return fmt.Errorf("batch %s not started: %s (start anyway with: pictor batch start %s --force)", id, printable(pe.Detail), id)
}

// waitCmd runs "pictor batch wait".
func (b *batchCmd) waitCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pictor batch wait", flag.ContinueOnError)
	pos, err := b.parse(fs, args, 1, "wait ID")
	if err != nil {
		return helpOK(err)
	}
	bt, _, err := b.c.get(ctx, pos[0])
	if err != nil {
		return err
	}
	if bt.State == api.BatchDraft || bt.State == api.BatchReady || bt.State == api.BatchTrialling {
		return fmt.Errorf("batch %s is a %s, not started (start it with: pictor batch start %s)", bt.ID, bt.State, bt.ID)
	}
	return b.follow(ctx, bt)
}

// follow polls a started batch, showing its progress, until it is done or cancelled, or
// ctx ends (Ctrl-C: the batch keeps running). Its error says how the batch ended.
func (b *batchCmd) follow(ctx context.Context, bt api.BatchView) error {
	p := &batchProgress{w: b.stderr, terminal: b.terminal, every: b.lineEvery, id: bt.ID}
	defer p.close()
	tick := time.NewTicker(b.poll)
	defer tick.Stop()
	failures := 0
	for {
		if bt.State == api.BatchDone || bt.State == api.BatchCancelled {
			p.update(bt)
			p.close()
			return b.finished(bt)
		}
		p.update(bt)
		select {
		case <-ctx.Done():
			p.close()
			return b.stoppedWaiting(bt.ID)
		case <-tick.C:
		}
		pctx, cancel := context.WithTimeout(ctx, batchPollTimeout)
		next, _, err := b.c.get(pctx, bt.ID)
		cancel()
		switch {
		case ctx.Err() != nil:
			p.close()
			return b.stoppedWaiting(bt.ID)
		case err == nil:
			if failures > 0 {
				p.note(fmt.Sprintf("reached the service again after %d failed polls", failures))
			}
			failures, bt = 0, next
		case !transient(err):
			p.close()
			return err
		default:
			failures++
			if failures == 1 {
				p.note(fmt.Sprintf("cannot poll the service, trying again: %v", err))
			}
			if failures >= batchMaxPollFailures {
				p.close()
				return fmt.Errorf("gave up waiting for batch %s after %d failed polls (it may still be running): %w", bt.ID, failures, err)
			}
		}
	}
}

func (b *batchCmd) stoppedWaiting(id string) error {
	return fmt.Errorf("stopped waiting; batch %s keeps running on the server (follow it with: pictor batch wait %s, stop it with: pictor batch cancel %s)", id, id, id)
}

// finished reports how a batch ended: nil when every item succeeded or was skipped.
func (b *batchCmd) finished(bt api.BatchView) error {
	c := bt.Counts
	took := ""
	if bt.StartedAt != nil && bt.FinishedAt != nil {
		took = " in " + formatSeconds(bt.FinishedAt.Sub(*bt.StartedAt).Seconds())
	}
	fmt.Fprintf(b.stderr, "batch %s %s%s: %d succeeded, %d failed, %d skipped of %d\n",
		bt.ID, bt.State, took, c[api.ItemSucceeded], c[api.ItemFailed], c[api.ItemSkipped], bt.Total)
	if bt.Error != "" {
		fmt.Fprintf(b.stderr, "batch error: %s\n", printable(bt.Error))
	}
	switch {
	case bt.State == api.BatchCancelled:
		return fmt.Errorf("batch %s was cancelled (results so far: pictor batch results %s)", bt.ID, bt.ID)
	case c[api.ItemFailed] > 0:
		return fmt.Errorf("batch %s: %d of %d items failed; see why with: pictor batch results %s, run them again with: pictor batch retry %s",
			bt.ID, c[api.ItemFailed], bt.Total, bt.ID, bt.ID)
	}
	fmt.Fprintf(b.stderr, "results: pictor batch results %s [-o FILE]\n", bt.ID)
	return nil
}

// status runs "pictor batch status".
func (b *batchCmd) status(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pictor batch status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the server's JSON as it is")
	pos, err := b.parse(fs, args, 1, "status ID [--json]")
	if err != nil {
		return helpOK(err)
	}
	bt, raw, err := b.c.get(ctx, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := b.stdout.Write(raw)
		return err
	}
	c := bt.Counts
	tw := tabwriter.NewWriter(b.stdout, 0, 4, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	row("id", "%s", bt.ID)
	row("name", "%s", printable(bt.Name))
	row("state", "%s", bt.State)
	row("progress", "%s", progressLine(bt, 20))
	for _, s := range []string{api.ItemQueued, api.ItemRunning, api.ItemSucceeded, api.ItemFailed, api.ItemSkipped} {
		row(s, "%d", c[s])
	}
	row("bad rows", "%d", bt.BadRows)
	if bt.State == api.BatchRunning {
		row("rate", "%.1f items/s", bt.Rate)
		eta := "unknown"
		if bt.ETASeconds > 0 {
			eta = formatSeconds(bt.ETASeconds)
		}
		row("eta", "%s", eta)
	}
	spent := fmt.Sprintf("%.1f GPU-s, %.1f CPU-s, %s stored", bt.GPUSeconds, bt.CPUSeconds, formatBytes(bt.Bytes))
	if bt.Spent != nil {
		spent = fmt.Sprintf("%.2f %s (%s)", *bt.Spent, bt.Currency, spent)
	}
	row("spent", "%s", spent)
	if bt.MaxCost != nil {
		row("max cost", "%.2f %s", *bt.MaxCost, bt.Currency)
	}
	if bt.PausedReason != "" {
		row("paused", "%s", printable(bt.PausedReason))
	}
	if bt.Review != "" {
		row("review", "%s", printable(bt.Review))
	}
	switch t := bt.Trial; {
	case t == nil:
		row("trial", "none (min accuracy %.1f%%)", bt.MinAccuracy*100)
	case t.Done:
		row("trial", "accuracy %.1f%% over %d samples, %d failing (min accuracy %.1f%%)", t.Accuracy*100, t.Judged, len(t.Failing), bt.MinAccuracy*100)
	default:
		row("trial", "%d/%d samples run (min accuracy %.1f%%)", t.Progress.Done, t.Progress.Total, bt.MinAccuracy*100)
	}
	if bt.Estimate != nil {
		row("estimate", "%s", estimateText(*bt.Estimate))
	}
	row("created", "%s", bt.CreatedAt.Local().Format(time.DateTime))
	if bt.StartedAt != nil {
		row("started", "%s", bt.StartedAt.Local().Format(time.DateTime))
	}
	if bt.FinishedAt != nil {
		row("finished", "%s", bt.FinishedAt.Local().Format(time.DateTime))
	}
	if bt.Error != "" {
		row("error", "%s", printable(bt.Error))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	printBadRows(b.stdout, bt, 10)
	return nil
}

// list runs "pictor batch list".
func (b *batchCmd) list(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pictor batch list", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the server's JSON as it is")
	if _, err := b.parse(fs, args, 0, "list [--json]"); err != nil {
		return helpOK(err)
	}
	raw, err := b.c.call(ctx, http.MethodGet, "/v1/batches", "", nil)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := b.stdout.Write(raw)
		return err
	}
	var out struct {
		Batches []api.BatchView `json:"batches"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return fmt.Errorf("list batches: decode the answer: %w", err)
	}
	tw := tabwriter.NewWriter(b.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tDONE\tTOTAL\tFAILED\tCREATED\tNAME")
	for _, bt := range out.Batches {
		c := bt.Counts
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", bt.ID, bt.State,
			c[api.ItemSucceeded]+c[api.ItemFailed]+c[api.ItemSkipped], bt.Total, c[api.ItemFailed],
			bt.CreatedAt.Local().Format(time.DateTime), printable(bt.Name))
	}
	return tw.Flush()
}

// trial runs "pictor batch trial".
func (b *batchCmd) trial(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pictor batch trial", flag.ContinueOnError)
	sample := fs.Int("sample", 0, "rows to run, 1-200 (default 0: the server's default, 20)")
	pos, err := b.parse(fs, args, 1, "trial ID [--sample N]")
	if err != nil {
		return helpOK(err)
	}
	if *sample < 0 || *sample > 200 {
		fmt.Fprintf(b.stderr, "pictor batch trial: --sample %d: want 1 to 200\n", *sample)
		return errUsage
	}
	bt, err := b.runTrial(ctx, pos[0], *sample)
	if err != nil {
		return err
	}
	b.printTrial(b.stdout, bt)
	return nil
}

// action runs "pictor batch start|pause|resume|cancel|retry".
func (b *batchCmd) action(ctx context.Context, name string, args []string) error {
	fs := flag.NewFlagSet("pictor batch "+name, flag.ContinueOnError)
	wait, force, maxCost, usage := new(bool), new(bool), new(string), name+" ID"
	if name == "start" || name == "resume" || name == "retry" {
		wait, usage = fs.Bool("wait", false, "then show the progress until the batch ends, as submit does"), name+" ID [--wait] [--force]"
		force = fs.Bool("force", false, "start or retry below the trial's min_accuracy (or with no trial); resume past the batch's max_cost, lifting it")
	}
	if name == "resume" {
		maxCost, usage = fs.String("max-cost", "", "raise the batch's max_cost to this before resuming"), usage+" [--max-cost C]"
	}
	startAt := new(string)
	if name == "start" {
		startAt, usage = fs.String("at", "", "start it at this time instead (RFC 3339, or +DURATION such as +2h)"), usage+" [--at TIME]"
	}
	pos, err := b.parse(fs, args, 1, usage)
	if err != nil {
		return helpOK(err)
	}
	if *startAt != "" {
		at, err := parseWhen(*startAt, time.Now())
		if err != nil {
			fmt.Fprintf(b.stderr, "pictor batch start: --at %q: %v\n", *startAt, err)
			return errUsage
		}
		body := map[string]any{"at": at.UTC().Format(time.RFC3339)}
		if *force {
			body["force"] = true
		}
		raw, _ := json.Marshal(body)
		bt, err := b.c.act(ctx, pos[0], name, string(raw))
		if err != nil {
			return b.gateError(pos[0], err)
		}
		fmt.Fprintf(b.stdout, "batch %s %s, starts at %s\n", bt.ID, bt.State, at.Local().Format(time.RFC3339))
		return nil
	}
	var cost *float64
	if *maxCost != "" {
		f, err := strconv.ParseFloat(*maxCost, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			fmt.Fprintf(b.stderr, "pictor batch %s: --max-cost %q: want a number from 0 up\n", name, *maxCost)
			return errUsage
		}
		cost = &f
	}
	bt, err := b.c.act(ctx, pos[0], name, actionBody(*force, cost))
	if err != nil {
		if name == "start" || name == "retry" {
			return b.gateError(pos[0], err)
		}
		return err
	}
	fmt.Fprintf(b.stdout, "batch %s %s %s\n", bt.ID, bt.State, progressLine(bt, 20))
	if *wait {
		return b.follow(ctx, bt)
	}
	return nil
}

// results runs "pictor batch results".
func (b *batchCmd) results(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pictor batch results", flag.ContinueOnError)
	format := fs.String("format", "csv", "csv, jsonl or xlsx")
	out := fs.String("o", "", "write to this file instead of stdout (written whole or not at all)")
	pos, err := b.parse(fs, args, 1, "results ID [--format csv|jsonl|xlsx] [-o FILE]")
	if err != nil {
		return helpOK(err)
	}
	switch {
	case *format != "csv" && *format != "jsonl" && *format != "xlsx":
		fmt.Fprintf(b.stderr, "pictor batch results: --format %q: want csv, jsonl or xlsx\n", *format)
		return errUsage
	case *format == "xlsx" && (*out == "" || *out == "-") && b.terminal:
		fmt.Fprintln(b.stderr, "pictor batch results: a workbook is not for a terminal: write it with -o FILE.xlsx")
		return errUsage
	}
	resp, err := b.c.do(ctx, http.MethodGet, "/v1/batches/"+url.PathEscape(pos[0])+"/results?format="+*format, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if *out == "" || *out == "-" {
		if _, err := io.Copy(b.stdout, resp.Body); err != nil {
			return fmt.Errorf("results of %s: %w", pos[0], err)
		}
		return nil
	}
	n, err := writeFileAtomic(*out, resp.Body)
	if err != nil {
		return fmt.Errorf("results of %s: %w", pos[0], err)
	}
	fmt.Fprintf(b.stderr, "wrote %s of results to %s\n", formatBytes(n), *out)
	return nil
}

// writeFileAtomic copies r into a temporary file beside name and renames it into place,
// so name holds the whole stream or is left as it was.
func writeFileAtomic(name string, r io.Reader) (int64, error) {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".part-*")
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
		return n, err
	}
	return n, nil
}

// parseWhen reads a time given on the command line: RFC 3339, or +DURATION from now.
func parseWhen(v string, now time.Time) (time.Time, error) {
	if d, ok := strings.CutPrefix(strings.TrimSpace(v), "+"); ok {
		dur, err := time.ParseDuration(d)
		if err != nil || dur < 0 {
			return time.Time{}, fmt.Errorf("want +DURATION such as +90m or +2h")
		}
		return now.Add(dur), nil
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, fmt.Errorf("want an RFC 3339 time such as 2026-12-24T06:00:00Z, or +DURATION")
	}
	return t, nil
}
