package jobs

import (
	"errors"
	"reflect"
	"strconv"
	"testing"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/checks"
)

// report builds a judged check report from name=value pairs held to value <= limit.
func report(limit float64, values map[string]float64) *checks.Report {
	rep := &checks.Report{}
	for _, name := range []string{checks.ProductFill, checks.BackgroundWhite, checks.MaskCoverage} {
		if v, ok := values[name]; ok {
			rep.Add(checks.Result{Name: name, Value: v, Op: checks.AtMost, Threshold: limit})
		}
	}
	return rep
}

func TestTrialScore(t *testing.T) {
	t.Parallel()
	pass := report(1, map[string]float64{checks.ProductFill: 0.5})
	failFill := report(1, map[string]float64{checks.ProductFill: 2, checks.BackgroundWhite: 0.5})
	failBoth := report(1, map[string]float64{checks.ProductFill: 2, checks.BackgroundWhite: 3})
	sample := func(row int, rends ...catalog.Rendition) TrialSample {
		return TrialSample{Row: row, Passed: true, FailedChecks: failedChecks(rends)}
	}
	tests := []struct {
		name         string
		samples      []TrialSample
		wantAccuracy float64
		wantJudged   int
		wantFailures map[string]int
		wantFailing  []int // rows
	}{
		{"no samples", nil, 1, 0, map[string]int{}, nil},
		{"classic outputs have no checks and pass",
			[]TrialSample{sample(2, catalog.Rendition{Name: "main"}), sample(3, catalog.Rendition{Name: "main"})},
			1, 2, map[string]int{}, nil},
		{"a failing check on any output fails the sample",
			[]TrialSample{
				sample(2, catalog.Rendition{Name: "main", Checks: pass}),
				sample(3, catalog.Rendition{Name: "main", Checks: pass}, catalog.Rendition{Name: "thumb", Checks: failFill}),
				sample(4, catalog.Rendition{Name: "main", Checks: failBoth}, catalog.Rendition{Name: "thumb", Checks: failFill}),
				sample(5, catalog.Rendition{Name: "main", Checks: pass}),
			},
			0.5, 4, map[string]int{checks.ProductFill: 2, checks.BackgroundWhite: 1}, []int{3, 4}},
		{"a report that did not pass counts as failing even without a failing result",
			[]TrialSample{sample(2, catalog.Rendition{Name: "main", Checks: &checks.Report{Passed: false,
				Results: []checks.Result{{Name: checks.Geometry, Verdict: checks.Pass}}}})},
			0, 1, map[string]int{"checks": 1}, []int{2}},
		{"errors fail, filtered-out rows are not judged",
			[]TrialSample{
				{Row: 2, Error: "source answered 404"},
				{Row: 3, Passed: false},
				sample(4, catalog.Rendition{Name: "main", Checks: pass}),
			},
			0.5, 2, map[string]int{VerdictError: 1}, []int{2}},
		{"every sample failing is accuracy 0",
			[]TrialSample{sample(2, catalog.Rendition{Name: "main", Checks: failFill}), {Row: 3, Error: "boom"}},
			0, 2, map[string]int{checks.ProductFill: 1, VerdictError: 1}, []int{2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := Trial{Samples: tt.samples}
			tr.score()
			if tr.Accuracy != tt.wantAccuracy || tr.Judged != tt.wantJudged {
				t.Errorf("accuracy: got %v over %d, want %v over %d", tr.Accuracy, tr.Judged, tt.wantAccuracy, tt.wantJudged)
			}
			if !reflect.DeepEqual(tr.Failures, tt.wantFailures) {
				t.Errorf("failures: got %v, want %v", tr.Failures, tt.wantFailures)
			}
			var rows []int
			for _, f := range tr.Failing {
				rows = append(rows, f.Row)
				if f.Verdict != VerdictFail && f.Verdict != VerdictError {
					t.Errorf("failing row %d: got verdict %q, want fail or error", f.Row, f.Verdict)
				}
				if f.Verdict == VerdictFail && len(f.FailedChecks) == 0 {
					t.Errorf("failing row %d: got no failing check results, want them", f.Row)
				}
			}
			if !reflect.DeepEqual(rows, tt.wantFailing) {
				t.Errorf("failing rows: got %v, want %v", rows, tt.wantFailing)
			}
		})
	}
}

func TestTrialGate(t *testing.T) {
	t.Parallel()
	const classic = `{"steps":[],"outputs":[{"name":"main"}]}`
	const ai = `{"steps":[{"op":"remove_background","engine":"classic"}],"outputs":[{"name":"main","format":"png"}]}`
	done := func(acc float64) string { return `{"done":true,"accuracy":` + ftoa(acc) + `}` }
	tests := []struct {
		name      string
		b         batchRow
		wantErr   bool
		wantTrial bool
	}{
		{"classic without trial", batchRow{recipe: classic, minAccuracy: 0.95}, false, false},
		{"AI without trial", batchRow{recipe: ai, minAccuracy: 0.95}, true, false},
		{"AI with a trial in progress counts as none", batchRow{recipe: ai, minAccuracy: 0.95, trial: `{"done":false}`}, true, false},
		{"at the threshold", batchRow{recipe: ai, minAccuracy: 0.95, trial: done(0.95)}, false, false},
		{"below the threshold", batchRow{recipe: classic, minAccuracy: 0.95, trial: done(0.9)}, true, true},
		{"threshold 0 lets anything pass", batchRow{recipe: ai, minAccuracy: 0, trial: done(0)}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := trialGate(tt.b)
			if (err != nil) != tt.wantErr {
				t.Fatalf("trialGate: got %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			ge, ok := err.(*TrialGateError)
			if !ok || !errors.Is(err, ErrBatchState) || !errors.Is(err, ErrTrialGate) {
				t.Fatalf("error: got %T %v, want a *TrialGateError matching ErrBatchState and ErrTrialGate", err, err)
			}
			if (ge.Trial != nil) != tt.wantTrial {
				t.Errorf("error's trial: got %+v, want present %v", ge.Trial, tt.wantTrial)
			}
		})
	}
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
