package deploy

// The dashboard and the alert rules may only name metrics the service exports
// (or declares as coming), with the labels those metrics carry.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// family is one exported (or declared) metric family.
type family struct {
	Type   string // counter, gauge, histogram, summary, untyped
	Labels map[string]bool
}

// declaredMetrics are families the dashboard and alerts use before the
// service exports them. Each names the issue that brings it; an entry that
// the service exports by now is reported by TestDashboardAndAlertsUseExportedMetrics
// (remove it then). Everything else must really be on /metrics, so a typo fails.
var declaredMetrics = map[string]family{
	// Issue "Jobs and batches" (package jobs): names proposed by the deploy
	// files, not exported yet. pictor_jobs is River's job count by queue and
	// state (the same database count from every process, so dashboards take
	// max); pictor_batch_items_total counts finished batch items by state:
	// done, failed, skipped.
	"pictor_jobs":              {Type: "gauge", Labels: set("queue", "state")},
	"pictor_batch_items_total": {Type: "counter", Labels: set("state")},
}

// targetLabels are added by Prometheus (and the Prometheus Operator) to every
// scraped series.
var targetLabels = set("job", "instance", "namespace", "pod", "container", "service", "endpoint")

func set(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

var (
	reTypeLine = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) ([a-z]+)$`)
	reSample   = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? `)
	reLabelKV  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"`)
)

// parseExposition reads the Prometheus text format into families.
func parseExposition(text string) map[string]family {
	fams := map[string]family{}
	for _, line := range strings.Split(text, "\n") {
		if m := reTypeLine.FindStringSubmatch(line); m != nil {
			fams[m[1]] = family{Type: m[2], Labels: map[string]bool{}}
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := reSample.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name := m[1]
		if _, ok := fams[name]; !ok {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suf); ok {
					if _, ok := fams[base]; ok {
						name = base
						break
					}
				}
			}
		}
		f, ok := fams[name]
		if !ok {
			continue
		}
		for _, kv := range reLabelKV.FindAllStringSubmatch(m[2], -1) {
			if kv[1] != "le" && kv[1] != "quantile" {
				f.Labels[kv[1]] = true
			}
		}
	}
	return fams
}

// scrapeAfterTraffic starts pictor (with the stand-in WebUI as its backend),
// makes the requests that create every labelled series (a recipe, an ingest
// that renders it, the same again for a cache hit), waits for the WebUI pool's
// first health checks, and scrapes /metrics.
func scrapeAfterTraffic(t *testing.T) (*stack, map[string]family) {
	t.Helper()
	s := startPictor(t)
	if code, body := s.do(t, http.MethodPut, "/v1/recipes/x", "application/json",
		[]byte(`{"outputs":[{"name":"o","format":"png"}]}`)); code/100 != 2 {
		t.Fatalf("PUT /v1/recipes/x: got %d %s, want 2xx", code, body)
	}
	if code, body := s.do(t, http.MethodPost, "/v1/images?recipe=x", "image/png", smallPNG(t)); code != http.StatusCreated {
		t.Fatalf("POST /v1/images?recipe=x: got %d %s, want 201", code, body)
	}
	if code, body := s.do(t, http.MethodPost, "/v1/images?recipe=x", "image/png", smallPNG(t)); code/100 != 2 {
		t.Fatalf("second POST /v1/images?recipe=x: got %d %s, want 2xx", code, body)
	}
	// The pool checks its backends in the background from the start; wait
	// (bounded) until its first calls are on the page.
	deadline := time.Now().Add(startTimeout)
	for {
		code, body := s.do(t, http.MethodGet, "/metrics", "", nil)
		if code != http.StatusOK {
			t.Fatalf("GET /metrics: got %d, want 200", code)
		}
		fams := parseExposition(string(body))
		if _, ok := fams["pictor_sd_calls_total"]; ok && len(fams["pictor_sd_calls_total"].Labels) > 0 {
			return s, fams
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pictor_sd_calls_total on /metrics after %v: is PICTOR_SD_URLS wired?", startTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkedPrefixes are the metric namespaces whose names are checked: the
// service's own and the Go and process collectors cmd registers.
var reMetricName = regexp.MustCompile(`(?:^|[^a-zA-Z0-9_:.$])((?:pictor|process|go)_[a-zA-Z0-9_:]+)`)

var (
	reString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	reSelector = regexp.MustCompile(`((?:pictor|process|go)_[a-zA-Z0-9_:]+)\s*\{([^}]*)\}`)
	reMatcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	reGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	reLegend   = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
	reTmplLbl  = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
)

// exprUse is one PromQL expression to check, with the label names that its
// legend or annotations print.
type exprUse struct {
	Where   string
	Expr    string
	Printed []string
}

// resolve finds a metric name among the families, mapping histogram and
// summary series (_bucket, _sum, _count) to their family.
func resolve(name string, fams map[string]family) (string, family, bool) {
	if f, ok := fams[name]; ok {
		return name, f, true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suf)
		if !ok {
			continue
		}
		f, ok := fams[base]
		if !ok {
			continue
		}
		if f.Type == "histogram" || (f.Type == "summary" && suf != "_bucket") {
			return base, f, true
		}
	}
	return "", family{}, false
}

// checkExpr returns the problems of one expression against the families.
func checkExpr(u exprUse, fams map[string]family) []string {
	var problems []string
	expr := reString.ReplaceAllString(u.Expr, `""`)
	avail := map[string]bool{}
	for k := range targetLabels {
		avail[k] = true
	}
	named := 0
	for _, m := range reMetricName.FindAllStringSubmatch(expr, -1) {
		name := m[1]
		base, f, ok := resolve(name, fams)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: metric %s is not exported by pictor", u.Where, name))
			continue
		}
		named++
		for l := range f.Labels {
			avail[l] = true
		}
		if base != name && strings.HasSuffix(name, "_bucket") {
			avail["le"] = true
		}
	}
	for _, m := range reSelector.FindAllStringSubmatch(expr, -1) {
		_, f, ok := resolve(m[1], fams)
		if !ok {
			continue // already reported
		}
		for _, mm := range reMatcher.FindAllStringSubmatch(m[2], -1) {
			l := mm[1]
			if l == "__name__" || targetLabels[l] || f.Labels[l] || (l == "le" && strings.HasSuffix(m[1], "_bucket")) {
				continue
			}
			problems = append(problems, fmt.Sprintf("%s: %s has no label %q (got %v)", u.Where, m[1], l, sortedKeys(f.Labels)))
		}
	}
	if named == 0 {
		// Only other exporters' metrics (up, kube-state-metrics): their labels
		// are not ours to check.
		return problems
	}
	for _, m := range reGrouping.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(m[1], ",") {
			l = strings.TrimSpace(l)
			if l != "" && !avail[l] {
				problems = append(problems, fmt.Sprintf("%s: groups by %q, which none of its metrics has (got %v)", u.Where, l, sortedKeys(avail)))
			}
		}
	}
	for _, l := range u.Printed {
		if !avail[l] {
			problems = append(problems, fmt.Sprintf("%s: prints label %q, which none of its metrics has (got %v)", u.Where, l, sortedKeys(avail)))
		}
	}
	return problems
}

// dashboardExprs lists every PromQL expression of the dashboard: panel
// targets (with their legends) and templating queries.
func dashboardExprs(t *testing.T) []exprUse {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(readFile(t, "deploy/grafana/pictor.json"), &d); err != nil {
		t.Fatalf("decode deploy/grafana/pictor.json: %v", err)
	}
	var uses []exprUse
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				var printed []string
				for _, m := range reLegend.FindAllStringSubmatch(tg.LegendFormat, -1) {
					printed = append(printed, m[1])
				}
				uses = append(uses, exprUse{
					Where:   fmt.Sprintf("dashboard panel %d %q target %s", p.ID, p.Title, tg.RefID),
					Expr:    tg.Expr,
					Printed: printed,
				})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			uses = append(uses, exprUse{Where: "dashboard variable " + v.Name, Expr: v.Definition})
		}
	}
	return uses
}

// ruleExprs lists every expression of the alert rules, with the labels their
// annotations print.
func ruleExprs(t *testing.T) []exprUse {
	t.Helper()
	rf := loadRules(t)
	var uses []exprUse
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			var printed []string
			for _, text := range r.Annotations {
				for _, m := range reTmplLbl.FindAllStringSubmatch(text, -1) {
					printed = append(printed, m[1])
				}
			}
			uses = append(uses, exprUse{Where: fmt.Sprintf("rule %s/%s", g.Name, name), Expr: r.Expr, Printed: printed})
		}
	}
	return uses
}

func TestDashboardAndAlertsUseExportedMetrics(t *testing.T) {
	t.Parallel()
	_, exported := scrapeAfterTraffic(t)

	// The scrape itself must carry what the service is known to export, or
	// the check below would pass on an empty page.
	for _, name := range []string{
		"pictor_http_request_duration_seconds", "pictor_http_requests_in_flight",
		"pictor_stage_duration_seconds", "pictor_pipeline_runs_total", "pictor_ingests_total",
		"pictor_imaging_queue_wait_seconds", "pictor_imaging_in_flight", "pictor_imaging_queue_waiting",
		"pictor_rendition_cache_hits_total", "pictor_rendition_cache_misses_total", "pictor_storage_written_bytes_total",
		"pictor_sd_calls_total", "pictor_sd_call_duration_seconds", "pictor_sd_gpu_seconds_total",
		"pictor_sd_queue_length", "pictor_sd_backend_up", "pictor_sd_backend_circuit_open",
	} {
		if _, ok := exported[name]; !ok {
			t.Errorf("scrape after traffic: %s missing (got %v)", name, sortedKeys(exported))
		}
	}
	if got := exported["pictor_http_request_duration_seconds"].Labels; !got["route"] || !got["code"] || !got["method"] {
		t.Errorf("pictor_http_request_duration_seconds labels: got %v, want route, method, code", sortedKeys(got))
	}

	fams := map[string]family{}
	for name, f := range declaredMetrics {
		if _, ok := exported[name]; ok {
			t.Logf("%s is exported now: remove it from declaredMetrics", name)
			continue
		}
		fams[name] = f
	}
	for name, f := range exported {
		fams[name] = f
	}

	uses := append(dashboardExprs(t), ruleExprs(t)...)
	if len(uses) < 20 {
		t.Fatalf("found %d expressions in the dashboard and rules, want at least 20", len(uses))
	}
	used := map[string]bool{}
	for _, u := range uses {
		for _, p := range checkExpr(u, fams) {
			t.Error(p)
		}
		for _, m := range reMetricName.FindAllStringSubmatch(reString.ReplaceAllString(u.Expr, `""`), -1) {
			if base, _, ok := resolve(m[1], fams); ok {
				used[base] = true
			}
		}
	}
	for name := range declaredMetrics {
		if !used[name] {
			t.Errorf("declaredMetrics lists %s, which no dashboard panel or rule uses: drop it", name)
		}
	}
	for name := range exported {
		if strings.HasPrefix(name, "pictor_") && !used[name] {
			t.Logf("%s is exported but on no dashboard panel or rule", name)
		}
	}
}

// TestExprChecker holds the checker to the mistakes it exists to catch.
func TestExprChecker(t *testing.T) {
	t.Parallel()
	fams := map[string]family{
		"pictor_http_request_duration_seconds": {Type: "histogram", Labels: set("route", "method", "code")},
		"pictor_imaging_in_flight":             {Type: "gauge", Labels: set()},
		"pictor_ingests_total":                 {Type: "counter", Labels: set("outcome")},
	}
	tests := []struct {
		name     string
		use      exprUse
		problems int
	}{
		{"histogram series", exprUse{Expr: `histogram_quantile(0.9, sum by (le, route) (rate(pictor_http_request_duration_seconds_bucket{code=~"5.."}[5m])))`}, 0},
		{"count of a histogram", exprUse{Expr: `sum(rate(pictor_http_request_duration_seconds_count[5m]))`}, 0},
		{"typo in a name", exprUse{Expr: `sum(pictor_imaging_inflight)`}, 1},
		{"suffix on a counter", exprUse{Expr: `rate(pictor_ingests_total_count[5m])`}, 1},
		{"bucket of a counter", exprUse{Expr: `rate(pictor_ingests_bucket[5m])`}, 1},
		{"unknown matcher label", exprUse{Expr: `rate(pictor_ingests_total{status="error"}[5m])`}, 1},
		{"target labels are fine", exprUse{Expr: `pictor_imaging_in_flight{job=~"$job", instance=~"$instance"}`}, 0},
		{"unknown grouping label", exprUse{Expr: `sum by (path) (rate(pictor_http_request_duration_seconds_count[5m]))`}, 1},
		{"le without a bucket", exprUse{Expr: `sum by (le) (rate(pictor_http_request_duration_seconds_count[5m]))`}, 1},
		{"printed label", exprUse{Expr: `sum by (outcome) (rate(pictor_ingests_total[5m]))`, Printed: []string{"result"}}, 1},
		{"name inside a string is not a metric", exprUse{Expr: `up{job="pictor_typo_job"}`}, 0},
		{"other exporters are not checked", exprUse{Expr: `sum by (namespace, pod, condition) (kube_pod_status_ready{condition="false"})`}, 0},
		{"go collector", exprUse{Expr: `go_goroutines_typo`}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.use.Where = tc.name
			got := checkExpr(tc.use, fams)
			if len(got) != tc.problems {
				t.Errorf("checkExpr(%q): got %d problems %q, want %d", tc.use.Expr, len(got), got, tc.problems)
			}
		})
	}
}

// ---- the dashboard's own shape --------------------------------------------

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      any    `json:"query"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID          int    `json:"id"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Datasource  *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID        string `json:"refId"`
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

var panelTypes = set("row", "timeseries", "stat", "gauge", "bargauge", "table", "heatmap", "state-timeline", "text")

var reAlertName = regexp.MustCompile(`\bPictor[A-Z][A-Za-z]+\b`)

func TestDashboardShape(t *testing.T) {
	t.Parallel()
	raw := readFile(t, "deploy/grafana/pictor.json")
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("uid %q, title %q, schemaVersion %d: want both set and schemaVersion >= 36", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	for _, want := range []string{"datasource", "job", "instance"} {
		if !vars[want] {
			t.Errorf("templating variables: got %v, want %q among them", sortedKeys(vars), want)
		}
	}
	alerts := map[string]bool{}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
		}
	}

	ids := map[int]string{}
	type rect struct {
		id         int
		x, y, w, h int
	}
	var rects []rect
	var titles []string
	for _, p := range d.Panels {
		t.Run(fmt.Sprintf("panel %d %s", p.ID, p.Title), func(t *testing.T) {
			if prev, dup := ids[p.ID]; dup {
				t.Errorf("id %d: got it on %q and %q, want unique ids", p.ID, prev, p.Title)
			}
			ids[p.ID] = p.Title
			if !panelTypes[p.Type] {
				t.Errorf("type: got %q, want one of %v", p.Type, sortedKeys(panelTypes))
			}
			g := p.GridPos
			if g.W < 1 || g.H < 1 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
				t.Errorf("gridPos: got %+v, want it inside the 24-column grid", g)
			}
			rects = append(rects, rect{p.ID, g.X, g.Y, g.W, g.H})
			for _, name := range reAlertName.FindAllString(p.Description, -1) {
				if !alerts[name] {
					t.Errorf("description names alert %s: alerts.yaml has no such alert (got %v)", name, sortedKeys(alerts))
				}
			}
			if p.Type == "row" {
				return
			}
			titles = append(titles, p.Title)
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("datasource: got %+v, want uid ${datasource}", p.Datasource)
			}
			if p.Description == "" {
				t.Errorf("description: got none, want one saying what the panel shows")
			}
			if len(p.Targets) == 0 {
				t.Errorf("targets: got none, want at least one")
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				if tg.RefID == "" || refs[tg.RefID] {
					t.Errorf("refId: got %q (seen %v), want unique and set", tg.RefID, sortedKeys(refs))
				}
				refs[tg.RefID] = true
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("target %s: got an empty expr", tg.RefID)
				}
				if strings.Contains(tg.Expr, "pictor_") && !strings.Contains(tg.Expr, `job=~"$job"`) {
					t.Errorf("target %s: got %q, want every selector filtered by job=~\"$job\"", tg.RefID, tg.Expr)
				}
			}
		})
	}
	for i, a := range rects {
		for _, b := range rects[i+1:] {
			if a.x < b.x+b.w && b.x < a.x+a.w && a.y < b.y+b.h && b.y < a.y+a.h {
				t.Errorf("panels %d and %d overlap: got %+v and %+v", a.id, b.id, a, b)
			}
		}
	}
	// What issue 6 asks the dashboard to show.
	all := strings.ToLower(strings.Join(titles, " | "))
	for _, want := range []string{"request rate", "latency", "queue", "in flight", "webui", "gpu", "batch", "error"} {
		if !strings.Contains(all, want) {
			t.Errorf("panel titles: got %q, want one about %q", all, want)
		}
	}
}

// ---- alert rules -------------------------------------------------------------

type rulesFile struct {
	Groups []struct {
		Name     string `json:"name"`
		Interval string `json:"interval,omitempty"`
		Rules    []struct {
			Alert         string            `json:"alert,omitempty"`
			Record        string            `json:"record,omitempty"`
			Expr          string            `json:"expr"`
			For           string            `json:"for,omitempty"`
			KeepFiringFor string            `json:"keep_firing_for,omitempty"`
			Labels        map[string]string `json:"labels,omitempty"`
			Annotations   map[string]string `json:"annotations,omitempty"`
		} `json:"rules"`
	} `json:"groups"`
}

// loadRules decodes alerts.yaml strictly: an unknown or misspelt key fails.
func loadRules(t *testing.T) rulesFile {
	t.Helper()
	var rf rulesFile
	if err := yaml.UnmarshalStrict(readFile(t, "deploy/prometheus/alerts.yaml"), &rf); err != nil {
		t.Fatalf("decode deploy/prometheus/alerts.yaml: %v", err)
	}
	return rf
}

func TestAlertRules(t *testing.T) {
	t.Parallel()
	rf := loadRules(t)
	groups := map[string]bool{}
	alerts := map[string]bool{}
	for _, g := range rf.Groups {
		if groups[g.Name] {
			t.Errorf("group %q: got it twice, want unique group names", g.Name)
		}
		groups[g.Name] = true
		for _, r := range g.Rules {
			t.Run(g.Name+"/"+r.Alert+r.Record, func(t *testing.T) {
				if (r.Alert == "") == (r.Record == "") {
					t.Fatalf("got alert %q and record %q, want exactly one", r.Alert, r.Record)
				}
				if strings.TrimSpace(r.Expr) == "" {
					t.Errorf("expr: got none")
				}
				if r.Record != "" {
					return
				}
				if alerts[r.Alert] {
					t.Errorf("alert %s: got it twice, want unique alert names", r.Alert)
				}
				alerts[r.Alert] = true
				if s := r.Labels["severity"]; s != "warning" && s != "critical" {
					t.Errorf("severity: got %q, want warning or critical", s)
				}
				if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
					t.Errorf("annotations: got %v, want summary and description", sortedKeys(r.Annotations))
				}
				if r.For == "" {
					t.Errorf("for: got none, want a duration so one bad scrape does not page")
				}
			})
		}
	}
	// Issue 6: saturation, error rate, backend down, batch stalled.
	for _, want := range []string{"PictorImagingSaturated", "PictorLoadShedding", "PictorHighErrorRate",
		"PictorTargetDown", "PictorSDBackendDown", "PictorSDAllBackendsDown", "PictorBatchStalled"} {
		if !alerts[want] {
			t.Errorf("alerts: got %v, want %s", sortedKeys(alerts), want)
		}
	}
	// Every alert that fires on pictor's own metrics has a promtool unit test.
	tested := string(readFile(t, "deploy/prometheus/alerts_test.yaml"))
	for _, want := range []string{"PictorHighErrorRate", "PictorTargetDown", "PictorAPIDown",
		"PictorImagingSaturated", "PictorBatchStalled", "PictorSDBackendDown", "PictorSDAllBackendsDown",
		"PictorSDCallErrors"} {
		if !strings.Contains(tested, "alertname: "+want+"\n") {
			t.Errorf("alerts_test.yaml: no case for %s", want)
		}
	}
}

// TestPromtool runs promtool on the rules when it is installed
// (scripts/validate-deploy.sh installs it and runs the same checks).
func TestPromtool(t *testing.T) {
	t.Parallel()
	promtool := findPromtool()
	if promtool == "" {
		t.Skip("promtool not found on PATH or in $PICTOR_CACHE/bin: scripts/validate-deploy.sh runs these checks")
	}
	root := repoRoot(t)
	for _, args := range [][]string{
		{"check", "rules", "deploy/prometheus/alerts.yaml"},
		{"test", "rules", "deploy/prometheus/alerts_test.yaml"},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			out, err := runIn(root, promtool, args...)
			if err != nil {
				t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

func TestDeclaredMetricTypes(t *testing.T) {
	t.Parallel()
	for name, f := range declaredMetrics {
		if !slices.Contains([]string{"counter", "gauge", "histogram"}, f.Type) {
			t.Errorf("%s: got type %q, want counter, gauge or histogram", name, f.Type)
		}
		if strings.HasSuffix(name, "_total") != (f.Type == "counter") {
			t.Errorf("%s: got type %s, want _total exactly on counters (STYLE)", name, f.Type)
		}
		if f.Type == "histogram" && !strings.HasSuffix(name, "_seconds") && !strings.HasSuffix(name, "_bytes") {
			t.Errorf("%s: got a histogram without a base unit suffix", name)
		}
	}
}
