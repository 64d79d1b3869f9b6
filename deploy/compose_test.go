package deploy

// deploy/compose.yaml, loaded the way `docker compose` loads it (compose-go:
// schema validation, interpolation, profiles, consistency checks).

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads deploy/compose.yaml with no variables set (so every
// default applies) and the given profiles.
func loadCompose(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "deploy")
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, "compose.yaml")}},
		Environment: types.Mapping{},
	}, loader.WithProfiles(profiles), func(o *loader.Options) {
		o.SetProjectName("pictor", true)
		o.ResolvePaths = true
	})
	if err != nil {
		t.Fatalf("load compose.yaml with profiles %q: %v", profiles, err)
	}
	return p
}

func TestCompose(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		profiles []string
		want     []string
		absent   []string
	}{
		{"default", nil, []string{"pictor", "worker", "postgres", "minio", "sdstub"}, []string{"webui", "prometheus", "grafana"}},
		{"gpu", []string{"gpu"}, []string{"pictor", "worker", "webui"}, []string{"prometheus"}},
		{"monitoring", []string{"monitoring"}, []string{"pictor", "prometheus", "grafana"}, []string{"webui"}},
		{"all", []string{"*"}, []string{"pictor", "worker", "postgres", "minio", "sdstub", "webui", "prometheus", "grafana"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := loadCompose(t, tc.profiles...)
			for _, name := range tc.want {
				if _, ok := p.Services[name]; !ok {
					t.Errorf("services: got %v, want %s", sortedKeys(p.Services), name)
				}
			}
			for _, name := range tc.absent {
				if _, ok := p.Services[name]; ok {
					t.Errorf("services: got %s, want it only under its profile", name)
				}
			}
			checkComposeProject(t, p)
		})
	}
}

// checkComposeProject checks what every profile combination must satisfy.
func checkComposeProject(t *testing.T, p *types.Project) {
	t.Helper()
	for name, svc := range p.Services {
		if !hasHealthcheck(svc) {
			t.Errorf("service %s: got no healthcheck, want one", name)
		}
		for dep, d := range svc.DependsOn {
			target, ok := p.Services[dep]
			if !ok {
				if d.Required {
					t.Errorf("service %s depends on %s, which this profile does not start", name, dep)
				}
				continue
			}
			if d.Condition != types.ServiceConditionHealthy && d.Condition != types.ServiceConditionCompletedSuccessfully {
				t.Errorf("service %s depends on %s: got condition %q, want service_healthy", name, dep, d.Condition)
			}
			if d.Condition == types.ServiceConditionHealthy && !hasHealthcheck(target) {
				t.Errorf("service %s waits for %s to be healthy, which has no healthcheck", name, dep)
			}
		}
		for _, v := range svc.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("service %s mounts %s: %v", name, v.Source, err)
			}
		}
		if svc.Build != nil {
			if _, err := os.Stat(filepath.Join(svc.Build.Context, svc.Build.Dockerfile)); err != nil {
				t.Errorf("service %s builds %s: %v", name, filepath.Join(svc.Build.Context, svc.Build.Dockerfile), err)
			}
		}
	}
}

func TestComposePictorServices(t *testing.T) {
	t.Parallel()
	p := loadCompose(t, "*")
	for _, tc := range []struct {
		service string
		command []string
	}{
		{"pictor", []string{"serve"}},
		{"worker", []string{"worker"}},
	} {
		t.Run(tc.service, func(t *testing.T) {
			svc := p.Services[tc.service]
			if !slices.Equal([]string(svc.Command), tc.command) {
				t.Errorf("command: got %q, want %q", svc.Command, tc.command)
			}
			if svc.Build == nil || filepath.Clean(svc.Build.Context) != repoRoot(t) {
				t.Errorf("build: got %+v, want the repository root", svc.Build)
			}
			for _, want := range requiredSettings {
				if _, ok := svc.Environment[want]; !ok {
					t.Errorf("environment: %s missing", want)
				}
			}
			for name := range svc.Environment {
				checkSettingName(t, "compose service "+tc.service, name)
			}
			// The addresses point at services of this file.
			env := func(k string) string {
				if v := svc.Environment[k]; v != nil {
					return *v
				}
				return ""
			}
			hosts := map[string]string{
				"PICTOR_S3_ENDPOINT":  hostOf(t, "http://"+env("PICTOR_S3_ENDPOINT")),
				"PICTOR_DATABASE_URL": hostOf(t, env("PICTOR_DATABASE_URL")),
			}
			for _, u := range strings.Split(env("PICTOR_SD_URLS"), ",") {
				hosts["PICTOR_SD_URLS "+u] = hostOf(t, u)
			}
			for k, host := range hosts {
				if _, ok := p.Services[host]; !ok {
					t.Errorf("%s: got host %q, want a service of compose.yaml", k, host)
				}
			}
			if !svc.ReadOnly || !slices.Contains(svc.CapDrop, "ALL") || !slices.Contains([]string(svc.Tmpfs), "/tmp") {
				t.Errorf("hardening: got read_only %v, cap_drop %v, tmpfs %v; want true, ALL, /tmp", svc.ReadOnly, svc.CapDrop, svc.Tmpfs)
			}
			for _, dep := range []string{"postgres", "minio"} {
				if d, ok := svc.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
					t.Errorf("depends_on %s: got %+v, want service_healthy", dep, d)
				}
			}
		})
	}
	if got := p.Services["pictor"].Environment["PICTOR_SD_URLS"]; got == nil || hostOf(t, *got) != "sdstub" {
		t.Errorf("PICTOR_SD_URLS default: got %v, want the sdstub service", got)
	}
}

func TestComposeWebUI(t *testing.T) {
	t.Parallel()
	p := loadCompose(t, "gpu")
	w, ok := p.Services["webui"]
	if !ok {
		t.Fatal("no webui service under the gpu profile")
	}
	for _, flag := range []string{"--api", "--listen"} {
		if !slices.Contains([]string(w.Command), flag) {
			t.Errorf("webui command: got %q, want %s", w.Command, flag)
		}
	}
	// Without its UI the WebUI has no /internal/progress, so Pictor cannot tell whose job
	// runs and never interrupts it: a cancelled scene would run on to its end.
	if slices.Contains([]string(w.Command), "--nowebui") {
		t.Errorf("webui command %q has --nowebui: cancelled renders could not be interrupted", w.Command)
	}
	var gpu bool
	if w.Deploy != nil && w.Deploy.Resources.Reservations != nil {
		for _, d := range w.Deploy.Resources.Reservations.Devices {
			if slices.Contains(d.Capabilities, "gpu") && d.Count == 1 {
				gpu = true
			}
		}
	}
	if !gpu {
		t.Errorf("webui: got no reservation of one GPU device")
	}
	s := p.Services["sdstub"]
	if !slices.Equal([]string(s.Entrypoint), []string{"sdstub"}) {
		t.Errorf("sdstub entrypoint: got %q, want [sdstub] (built into the pictor image)", s.Entrypoint)
	}
	// Both backends listen where PICTOR_SD_URLS points: port 7861.
	for name, svc := range map[string]types.ServiceConfig{"webui": w, "sdstub": s} {
		if !slices.ContainsFunc([]string(svc.Command), func(a string) bool { return strings.HasSuffix(a, "7861") }) {
			t.Errorf("%s command: got %q, want it on port 7861", name, svc.Command)
		}
	}
}

// hasHealthcheck reports whether the service has a healthcheck that runs:
// ["NONE"] and disable: true turn it off.
func hasHealthcheck(svc types.ServiceConfig) bool {
	hc := svc.HealthCheck
	return hc != nil && !hc.Disable && len(hc.Test) > 0 && hc.Test[0] != "NONE"
}

func hostOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		t.Errorf("parse %q: %v", raw, err)
		return ""
	}
	h := u.Host
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return h
}
