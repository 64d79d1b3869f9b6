package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/pictor/pictor/api"
)

// isTerminal reports whether w is a character device (a terminal, not a pipe or file).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
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
func (b *batchCmd) printCreated(bt api.BatchView) {
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

func printBadRows(w io.Writer, bt api.BatchView, max int) {
	for i, r := range bt.BadRowList {
		if i == max {
			fmt.Fprintf(w, "  ... %d more bad rows (pictor batch status %s --json)\n", bt.BadRows-max, bt.ID)
			break
		}
		fmt.Fprintf(w, "  row %d: %s\n", r.Row, printable(r.Message))
	}
}

// printTrial prints a trial's report (accuracy, failures per check, the failing samples
// with before/after, the first few) and the estimate with its cost or why there is none.
func (b *batchCmd) printTrial(w io.Writer, bt api.BatchView) {
	if t := bt.Trial; t != nil {
		skipped, errored := 0, 0
		for _, s := range t.Samples {
			switch {
			case s.Error != "":
				errored++
			case !s.Passed:
				skipped++
			}
		}
		fmt.Fprintf(w, "trial: %d rows sampled, %d judged, %d did not pass the filter, %d failed to process\n",
			len(t.Samples), t.Judged, skipped, errored)
		fmt.Fprintf(w, "accuracy: %.1f%% (%d of %d judged samples passed every check; min_accuracy %.1f%%)\n",
			t.Accuracy*100, t.Judged-len(t.Failing), t.Judged, bt.MinAccuracy*100)
		if len(t.Failures) > 0 {
			names := make([]string, 0, len(t.Failures))
			for n := range t.Failures {
				names = append(names, n)
			}
			sort.Strings(names)
			fmt.Fprint(w, "failures per check:")
			for _, n := range names {
				fmt.Fprintf(w, " %s %d", printable(n), t.Failures[n])
			}
			fmt.Fprintln(w)
		}
		for i, s := range t.Failing {
			if i == 10 {
				fmt.Fprintf(w, "  ... %d more failing samples (pictor batch status %s --json)\n", len(t.Failing)-i, bt.ID)
				break
			}
			if s.Error != "" {
				fmt.Fprintf(w, "  row %d %s: error: %s\n", s.Row, printable(s.Source), printable(s.Error))
				continue
			}
			var why []string
			for _, r := range s.FailedChecks {
				why = append(why, fmt.Sprintf("%s=%g (%s %g)", printable(r.Name), r.Value, printable(r.Op), r.Threshold))
			}
			fmt.Fprintf(w, "  row %d %s: fail: %s\n    before %s\n    after  %s\n", s.Row, printable(s.Source), strings.Join(why, ", "),
				b.absURL(s.BeforeURL), b.absURL(s.AfterURL))
		}
	}
	if e := bt.Estimate; e != nil {
		fmt.Fprintf(w, "estimate: %s\n", estimateText(*e))
	}
}

// absURL makes a service-relative URL absolute, so it can be opened from the terminal.
func (b *batchCmd) absURL(u string) string {
	if strings.HasPrefix(u, "/") && b.c != nil {
		return printable(b.c.base + u)
	}
	return printable(u)
}

func estimateText(e api.EstimateView) string {
	s := fmt.Sprintf("%d items, %.0f%% pass the filter, %.0f GPU-s, %.0f CPU-s, %s stored, about %s with %d workers and %d backends",
		e.Items, e.PassRate*100, e.GPUSeconds, e.CPUSeconds, formatBytes(e.Bytes), formatSeconds(e.WallSeconds), e.Workers, e.Backends)
	switch {
	case e.Cost != nil:
		s += fmt.Sprintf(", cost %.2f %s", *e.Cost, e.Currency)
		if e.CostPerItem != nil {
			s += fmt.Sprintf(" (%.4f %s an item)", *e.CostPerItem, e.Currency)
		}
	case e.Note != "":
		s += "; cost unknown: " + printable(e.Note)
	}
	return s
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

func (p *batchProgress) update(bt api.BatchView) {
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
func progressLine(bt api.BatchView, width int) string {
	c := bt.Counts
	done := c[api.ItemSucceeded] + c[api.ItemFailed] + c[api.ItemSkipped]
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
	if n := c[api.ItemFailed]; n > 0 {
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
