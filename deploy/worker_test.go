package deploy

import (
	"net/http"
	"strings"
	"testing"
)

// TestWorkerServesOpsEndpoints holds `pictor worker` to what deploy/k8s and
// deploy/compose.yaml expect of it: /healthz (liveness), /readyz (readiness)
// and /metrics (the ServiceMonitor scrapes job pictor-worker, where the WebUI
// pool's and the jobs' metrics live) on PICTOR_ADDR, announced on stdout as
// "pictor worker listening on http://ADDR".
//
// A worker that says "pictor worker running" without the listening line fails
// the test: the manifests are written for the worker that serves them.
func TestWorkerServesOpsEndpoints(t *testing.T) {
	t.Parallel()
	w := startProcessUntil(t, "pictor worker listening on ", "pictor worker running", pictorBinary(t),
		[]string{"worker"},
		[]string{"PICTOR_DATA_DIR=" + t.TempDir(), "PICTOR_ADDR=127.0.0.1:0", "PICTOR_LOG_LEVEL=warn"})
	if w == nil {
		t.Fatal("pictor worker serves no /healthz, /readyz, /metrics on PICTOR_ADDR: " +
			"deploy/k8s/worker.yaml's probes and the ServiceMonitor need them")
	}
	for _, tc := range []struct {
		path string
		want string
	}{
		{"/healthz", ""},
		{"/readyz", ""},
		{"/metrics", "pictor_"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			code, body := w.do(t, http.MethodGet, tc.path, "", nil)
			if code != http.StatusOK {
				t.Errorf("GET %s: got %d %s, want 200", tc.path, code, body)
			}
			if !strings.Contains(string(body), tc.want) {
				t.Errorf("GET %s: got %.200q, want it to contain %q", tc.path, body, tc.want)
			}
		})
	}
}
