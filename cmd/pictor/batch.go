package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pictor/pictor/api"
	"github.com/pictor/pictor/jobs"
)

const batchUsage = `Usage: pictor batch [--server URL] [--key KEY] COMMAND [flags] [ARGS]

Runs and follows batches on a running Pictor service.

Commands:
  submit MANIFEST --recipe NAME|@FILE.json|'{JSON}' [--name N] [--filter JSON|@FILE]
         [--trial N] [--no-start] [--detach]
                    upload a manifest (CSV, JSONL or XLSX), print the batch id on stdout,
                    optionally run a trial of N rows and print the estimate, start the
                    batch and show its progress until it ends (--detach: do not wait;
                    --no-start: leave it a draft). Exit 1 when any item failed.
  wait ID           show a started batch's progress until it ends (exit 1 on failures)
  status ID [--json]
                    counts, rate, ETA, spend and estimate (--json: the server's JSON)
  list [--json]     the latest batches
  trial ID [--sample N]
                    run N sample rows (default 20) and print the estimate
  start|pause|resume|cancel|retry ID [--wait]
                    steer a batch (retry queues its failed items again; --wait, for
                    start, resume and retry: then show its progress as submit does)
  results ID [--format csv|jsonl] [-o FILE]
                    stream the per-row results to stdout or FILE

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
	maxRecipeFileBytes   = 1 << 20
	minProgressBytes     = 1 << 20 // smaller manifests upload without a progress line
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

// isTerminal reports whether w is a character device (a terminal, not a pipe or file).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
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
	if len(pos) != want {
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
	trial := fs.Int("trial", 0, "run this many sample rows first (1-200) and print the estimate (default 0: no trial)")
	noStart := fs.Bool("no-start", false, "create (and trial) the batch but do not start it")
	detach := fs.Bool("detach", false, "start the batch and exit without waiting for it")
	pos, err := b.parse(fs, args, 1, "submit MANIFEST --recipe NAME|@FILE.json|'{JSON}' [flags]")
	if err != nil {
		return helpOK(err)
	}
	if *recipe == "" {
		fmt.Fprintln(b.stderr, "pictor batch submit: --recipe is required")
		return errUsage
	}
	if *trial < 0 || *trial > 200 {
		fmt.Fprintf(b.stderr, "pictor batch submit: --trial %d: want 1 to 200 rows, or 0 for none\n", *trial)
		return errUsage
	}
	recipeText, err := jsonArg("recipe", *recipe, false)
	if err != nil {
		return b.argError("submit", err)
	}
	filterText := ""
	if *filter != "" {
		if filterText, err = jsonArg("filter", *filter, true); err != nil {
			return b.argError("submit", err)
		}
	}
	fields := [][2]string{{"recipe", recipeText}}
	if *name != "" {
		fields = append(fields, [2]string{"name", *name})
	}
	if filterText != "" {
		fields = append(fields, [2]string{"filter", filterText})
	}

	bt, err := b.c.upload(ctx, pos[0], fields, b.uploadProgress())
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: the batch was not created")
		}
		return err
	}
	fmt.Fprintln(b.stdout, bt.ID)
	b.printCreated(bt)
	if bt.Total == 0 {
		return fmt.Errorf("batch %s: the manifest has no usable rows; nothing to run", bt.ID)
	}
	notStarted := func(err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: batch %s was created but not started (start it with: pictor batch start %s)", bt.ID, bt.ID)
		}
		return err
	}
	if *trial > 0 {
		fmt.Fprintf(b.stderr, "running a trial of %d rows...\n", *trial)
		if bt, err = b.c.trial(ctx, bt.ID, *trial); err != nil {
			return notStarted(err)
		}
		printTrial(b.stderr, bt)
	}
	if *noStart {
		fmt.Fprintf(b.stderr, "batch %s is not started; start it with: pictor batch start %s\n", bt.ID, bt.ID)
		return nil
	}
	if bt, err = b.c.act(ctx, bt.ID, "start"); err != nil {
		return notStarted(err)
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

// uploadProgress returns the function that shows how much of the manifest is sent, on
// a terminal only; nil otherwise. done ends the line.
func (b *batchCmd) uploadProgress() func(sent, size int64, done bool) {
	if !b.terminal {
		return nil
	}
	return func(sent, size int64, done bool) {
		if done {
			fmt.Fprintln(b.stderr)
			return
		}
		fmt.Fprintf(b.stderr, "\ruploading %s / %s\x1b[K", formatBytes(sent), formatBytes(size))
	}
}

// printCreated tells what the upload made: counts and the bad rows.
func (b *batchCmd) printCreated(bt jobs.Batch) {
	fmt.Fprintf(b.stderr, "created batch %s", bt.ID)
	if bt.Name != "" {
		fmt.Fprintf(b.stderr, " %q", printable(bt.Name))
	}
	fmt.Fprintf(b.stderr, ": %d items", bt.Total)
	if bt.BadRows > 0 {
		fmt.Fprintf(b.stderr, ", %d bad rows (skipped)", bt.BadRows)
	}
	fmt.Fprintln(b.stderr)
	printBadRows(b.stderr, bt, 10)
}

func printBadRows(w io.Writer, bt jobs.Batch, max int) {
	for i, r := range bt.BadRowList {
		if i == max {
			fmt.Fprintf(w, "  ... %d more bad rows (pictor batch status %s --json)\n", bt.BadRows-max, bt.ID)
			break
		}
		fmt.Fprintf(w, "  row %d: %s\n", r.Row, printable(r.Message))
	}
}

// printTrial prints a trial's samples (the first few) and the estimate.
func printTrial(w io.Writer, bt jobs.Batch) {
	if bt.Trial != nil {
		passed, failed := 0, 0
		for _, s := range bt.Trial.Samples {
			switch {
			case s.Error != "":
				failed++
			case s.Passed:
				passed++
			}
		}
		fmt.Fprintf(w, "trial: %d rows sampled, %d processed, %d did not pass the filter, %d failed\n",
			len(bt.Trial.Samples), passed, len(bt.Trial.Samples)-passed-failed, failed)
		shown := 0
		for _, s := range bt.Trial.Samples {
			if shown == 10 {
				fmt.Fprintf(w, "  ... (every sample: pictor batch status %s --json)\n", bt.ID)
				break
			}
			switch {
			case s.Error != "":
				fmt.Fprintf(w, "  row %d %s: failed: %s\n", s.Row, printable(s.Source), printable(s.Error))
			case s.Passed && s.AfterURL != "":
				fmt.Fprintf(w, "  row %d %s: after %s\n", s.Row, printable(s.Source), printable(s.AfterURL))
			default:
				continue
			}
			shown++
		}
	}
	if e := bt.Estimate; e != nil {
		fmt.Fprintf(w, "estimate: %s\n", estimateText(*e))
	}
}

func estimateText(e jobs.Estimate) string {
	return fmt.Sprintf("%d items, %.0f%% pass the filter, %.0f GPU-s, %.0f CPU-s, %s stored, about %s with %d workers and %d backends, cost %.2f",
		e.Items, e.PassRate*100, e.GPUSeconds, e.CPUSeconds, formatBytes(e.Bytes), formatSeconds(e.WallSeconds), e.Workers, e.Backends, e.Cost)
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
	if bt.State == jobs.BatchDraft || bt.State == jobs.BatchReady {
		return fmt.Errorf("batch %s is a %s, not started (start it with: pictor batch start %s)", bt.ID, bt.State, bt.ID)
	}
	return b.follow(ctx, bt)
}

// follow polls a started batch, showing its progress, until it is done or cancelled, or
// ctx ends (Ctrl-C: the batch keeps running). Its error says how the batch ended.
func (b *batchCmd) follow(ctx context.Context, bt jobs.Batch) error {
	p := &batchProgress{w: b.stderr, terminal: b.terminal, every: b.lineEvery, id: bt.ID}
	defer p.close()
	tick := time.NewTicker(b.poll)
	defer tick.Stop()
	failures := 0
	for {
		if bt.State == jobs.BatchDone || bt.State == jobs.BatchCancelled {
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
func (b *batchCmd) finished(bt jobs.Batch) error {
	c := bt.Counts
	took := ""
	if bt.StartedAt != nil && bt.FinishedAt != nil {
		took = " in " + formatSeconds(bt.FinishedAt.Sub(*bt.StartedAt).Seconds())
	}
	fmt.Fprintf(b.stderr, "batch %s %s%s: %d succeeded, %d failed, %d skipped of %d\n",
		bt.ID, bt.State, took, c[jobs.ItemSucceeded], c[jobs.ItemFailed], c[jobs.ItemSkipped], bt.Total)
	if bt.Error != "" {
		fmt.Fprintf(b.stderr, "batch error: %s\n", printable(bt.Error))
	}
	switch {
	case bt.State == jobs.BatchCancelled:
		return fmt.Errorf("batch %s was cancelled (results so far: pictor batch results %s)", bt.ID, bt.ID)
	case c[jobs.ItemFailed] > 0:
		return fmt.Errorf("batch %s: %d of %d items failed; see why with: pictor batch results %s, run them again with: pictor batch retry %s",
			bt.ID, c[jobs.ItemFailed], bt.Total, bt.ID, bt.ID)
	}
	fmt.Fprintf(b.stderr, "results: pictor batch results %s [-o FILE]\n", bt.ID)
	return nil
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

// batchProgress draws a batch's progress on stderr: one redrawn line on a terminal, a
// line every few polls (and on every change of state) otherwise.
type batchProgress struct {
	w        io.Writer
	terminal bool
	every    int
	id       string
	polls    int
	state    string
	drawn    bool // a bar is on the terminal's current line
}

func (p *batchProgress) update(bt jobs.Batch) {
	line := progressLine(bt, 20)
	if p.terminal {
		fmt.Fprintf(p.w, "\r%s %s\x1b[K", line, bt.State)
		p.drawn = true
		return
	}
	if bt.State != p.state || p.every <= 1 || p.polls%p.every == 0 {
		fmt.Fprintf(p.w, "batch %s %s %s\n", p.id, bt.State, line)
	}
	p.state = bt.State
	p.polls++
}

// note prints a message on a line of its own.
func (p *batchProgress) note(msg string) {
	p.close()
	fmt.Fprintf(p.w, "pictor: %s\n", msg)
}

// close ends the bar's line, once.
func (p *batchProgress) close() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// progressLine is "[#####.....] 512/1000 51% 12.3/s ETA 40s failed 3".
func progressLine(bt jobs.Batch, width int) string {
	c := bt.Counts
	done := c[jobs.ItemSucceeded] + c[jobs.ItemFailed] + c[jobs.ItemSkipped]
	pct := 100
	if bt.Total > 0 {
		pct = min(100, done*100/bt.Total)
	}
	filled := pct * width / 100
	var s strings.Builder
	fmt.Fprintf(&s, "[%s%s] %d/%d %d%%", strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, bt.Total, pct)
	if bt.Rate > 0 {
		fmt.Fprintf(&s, " %.1f/s", bt.Rate)
	}
	if bt.ETASeconds > 0 {
		fmt.Fprintf(&s, " ETA %s", formatSeconds(bt.ETASeconds))
	}
	if n := c[jobs.ItemFailed]; n > 0 {
		fmt.Fprintf(&s, " failed %d", n)
	}
	return s.String()
}

// formatSeconds is "40s", "12m30s" or "3h05m".
func formatSeconds(sec float64) string {
	d := time.Duration(sec * float64(time.Second)).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// formatBytes is "512 B", "1.5 KB", "12.3 MB" (powers of 1000).
func formatBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %cB", v, "kMGTP"[i])
}

// printable replaces control characters (terminal escapes in a manifest's text, say).
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
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
	for _, s := range []string{jobs.ItemQueued, jobs.ItemRunning, jobs.ItemSucceeded, jobs.ItemFailed, jobs.ItemSkipped} {
		row(s, "%d", c[s])
	}
	row("bad rows", "%d", bt.BadRows)
	if bt.State == jobs.BatchRunning {
		row("rate", "%.1f items/s", bt.Rate)
		eta := "unknown"
		if bt.ETASeconds > 0 {
			eta = formatSeconds(bt.ETASeconds)
		}
		row("eta", "%s", eta)
	}
	row("spent", "%.1f GPU-s, %.1f CPU-s, %s stored", bt.GPUSeconds, bt.CPUSeconds, formatBytes(bt.Bytes))
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
		Batches []jobs.Batch `json:"batches"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return fmt.Errorf("list batches: decode the answer: %w", err)
	}
	tw := tabwriter.NewWriter(b.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tDONE\tTOTAL\tFAILED\tCREATED\tNAME")
	for _, bt := range out.Batches {
		c := bt.Counts
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", bt.ID, bt.State,
			c[jobs.ItemSucceeded]+c[jobs.ItemFailed]+c[jobs.ItemSkipped], bt.Total, c[jobs.ItemFailed],
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
	bt, err := b.c.trial(ctx, pos[0], *sample)
	if err != nil {
		return err
	}
	printTrial(b.stdout, bt)
	return nil
}

// action runs "pictor batch start|pause|resume|cancel|retry".
func (b *batchCmd) action(ctx context.Context, name string, args []string) error {
	fs := flag.NewFlagSet("pictor batch "+name, flag.ContinueOnError)
	wait, usage := new(bool), name+" ID"
	if name == "start" || name == "resume" || name == "retry" {
		wait, usage = fs.Bool("wait", false, "then show the progress until the batch ends, as submit does"), name+" ID [--wait]"
	}
	pos, err := b.parse(fs, args, 1, usage)
	if err != nil {
		return helpOK(err)
	}
	bt, err := b.c.act(ctx, pos[0], name)
	if err != nil {
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
	format := fs.String("format", "csv", "csv or jsonl")
	out := fs.String("o", "", "write to this file instead of stdout (written whole or not at all)")
	pos, err := b.parse(fs, args, 1, "results ID [--format csv|jsonl] [-o FILE]")
	if err != nil {
		return helpOK(err)
	}
	if *format != "csv" && *format != "jsonl" {
		fmt.Fprintf(b.stderr, "pictor batch results: --format %q: want csv or jsonl\n", *format)
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
func (c *batchClient) callBatch(ctx context.Context, method, path, contentType string, body io.Reader) (jobs.Batch, []byte, error) {
	raw, err := c.call(ctx, method, path, contentType, body)
	if err != nil {
		return jobs.Batch{}, nil, err
	}
	var bt jobs.Batch
	if err := json.Unmarshal(raw, &bt); err != nil {
		return jobs.Batch{}, nil, fmt.Errorf("%s %s: decode the batch: %w", method, path, err)
	}
	if bt.ID == "" {
		return jobs.Batch{}, nil, fmt.Errorf("%s %s: the answer is not a batch", method, path)
	}
	return bt, raw, nil
}

func batchPath(id string) string { return "/v1/batches/" + url.PathEscape(id) }

// get fetches a batch, and the server's JSON of it.
func (c *batchClient) get(ctx context.Context, id string) (jobs.Batch, []byte, error) {
	return c.callBatch(ctx, http.MethodGet, batchPath(id), "", nil)
}

// act posts one of start, pause, resume, cancel, retry.
func (c *batchClient) act(ctx context.Context, id, action string) (jobs.Batch, error) {
	bt, _, err := c.callBatch(ctx, http.MethodPost, batchPath(id)+"/"+action, "", nil)
	return bt, err
}

// trial runs a trial of sample rows (0: the server's default).
func (c *batchClient) trial(ctx context.Context, id string, sample int) (jobs.Batch, error) {
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
func (c *batchClient) upload(ctx context.Context, manifest string, fields [][2]string, progress func(sent, size int64, done bool)) (jobs.Batch, error) {
	f, err := os.Open(manifest)
	if err != nil {
		return jobs.Batch{}, fmt.Errorf("manifest: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return jobs.Batch{}, fmt.Errorf("manifest: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return jobs.Batch{}, fmt.Errorf("manifest %s: not a regular file", manifest)
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
		return jobs.Batch{}, fmt.Errorf("read manifest %s: %w", manifest, src.err)
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
