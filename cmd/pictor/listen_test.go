package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pictor/pictor/auth"
)

func TestListenAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		addr      string
		keyed     bool
		allowOpen bool
		want      string
		wantOpen  bool
		wantErr   error
	}{
		{"default without keys is loopback", "", false, false, "127.0.0.1:8080", false, nil},
		{"default without keys stays loopback when open is allowed", "", false, true, "127.0.0.1:8080", false, nil},
		{"default with keys is every interface", "", true, false, ":8080", false, nil},
		{"loopback IPv4 without keys", "127.0.0.1:9000", false, false, "127.0.0.1:9000", false, nil},
		{"another loopback IPv4 without keys", "127.0.0.2:0", false, false, "127.0.0.2:0", false, nil},
		{"loopback IPv6 without keys", "[::1]:9000", false, false, "[::1]:9000", false, nil},
		{"localhost without keys", "localhost:9000", false, false, "localhost:9000", false, nil},
		{"wildcard port without keys is refused", ":8080", false, false, "", false, errOpenService},
		{"0.0.0.0 without keys is refused", "0.0.0.0:8080", false, false, "", false, errOpenService},
		{"[::] without keys is refused", "[::]:8080", false, false, "", false, errOpenService},
		{"a LAN address without keys is refused", "192.168.1.10:8080", false, false, "", false, errOpenService},
		{"a host name without keys is refused", "pictor.internal:8080", false, false, "", false, errOpenService},
		{"wildcard without keys, open allowed", ":8080", false, true, ":8080", true, nil},
		{"wildcard with keys", ":8080", true, false, ":8080", false, nil},
		{"a LAN address with keys", "192.168.1.10:8080", true, false, "192.168.1.10:8080", false, nil},
		{"no port", "127.0.0.1", false, false, "", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, open, err := listenAddr(tt.addr, tt.keyed, tt.allowOpen)
			if tt.name == "no port" {
				if err == nil || !strings.Contains(err.Error(), "PICTOR_ADDR") {
					t.Fatalf("listenAddr(%q): got %q, %v; want an error naming PICTOR_ADDR", tt.addr, got, err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("listenAddr(%q, keyed %v, allowOpen %v): got error %v, want %v", tt.addr, tt.keyed, tt.allowOpen, err, tt.wantErr)
			}
			if err != nil {
				for _, hint := range []string{"PICTOR_API_KEYS", "PICTOR_ALLOW_OPEN=true", "127.0.0.1"} {
					if !strings.Contains(err.Error(), hint) {
						t.Errorf("refusal: got %q, want it to name %s", err, hint)
					}
				}
				return
			}
			if got != tt.want || open != tt.wantOpen {
				t.Errorf("listenAddr(%q, keyed %v, allowOpen %v): got %q open %v, want %q open %v", tt.addr, tt.keyed, tt.allowOpen, got, open, tt.want, tt.wantOpen)
			}
		})
	}
}

// TestServeRefusesOpenService: pictor serve with no keys on every interface stops before it
// opens anything, and PICTOR_ALLOW_OPEN is read from the environment.
func TestServeRefusesOpenService(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"flag", []string{"serve", "-addr", ":0"}, nil},
		{"environment", []string{"serve"}, map[string]string{"PICTOR_ADDR": "0.0.0.0:0"}},
		{"open not allowed", []string{"serve", "-addr", "[::]:0"}, map[string]string{"PICTOR_ALLOW_OPEN": "false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			env := map[string]string{"PICTOR_DATA_DIR": dir, "PICTOR_LOG_LEVEL": "warn"}
			for k, v := range tt.env {
				env[k] = v
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, func(k string) string { return env[k] }, &stdout, &stderr)
			if !errors.Is(err, errOpenService) {
				t.Fatalf("serve: got error %v, want %v (stderr %s)", err, errOpenService, &stderr)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("data dir: got %d entries (%s...), want none: the refusal comes before anything is opened", len(entries), entries[0].Name())
			}
			if strings.Contains(stdout.String(), "listening") {
				t.Errorf("stdout: got %q, want no listener", &stdout)
			}
		})
	}
}

// TestServeLogsLoopbackOnly: with no keys the service says it listens on loopback only and
// how to open it; with keys it does not.
func TestServeLogsLoopbackOnly(t *testing.T) {
	t.Parallel()
	const note = "no API keys: listening on loopback only"
	_, k, err := auth.NewKey(auth.ScopeRead, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      []string
		wantNote bool
	}{
		{"no keys", nil, true},
		{"keys", []string{"PICTOR_API_KEYS=" + auth.FormatKey(k)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logs := serveLogs(t, tt.env...)
			if got := strings.Contains(logs, note) && strings.Contains(logs, "PICTOR_ALLOW_OPEN=true"); got != tt.wantNote {
				t.Errorf("loopback note: got %v, want %v (log %s)", got, tt.wantNote, logs)
			}
		})
	}
}

// serveLogs starts pictor serve on a loopback port with env, waits until it listens, stops
// it and returns what it logged at warn level and above.
func serveLogs(t *testing.T, env ...string) string {
	t.Helper()
	cmd := exec.Command(binary, "serve", "-addr", "127.0.0.1:0")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PICTOR_DATA_DIR=" + t.TempDir(),
		"PICTOR_LOG_LEVEL=warn", "PICTOR_SERVE_WORKERS=false"}, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "pictor listening on ") {
				listening <- true
			}
		}
		close(listening)
	}()
	var ok bool
	select {
	case ok = <-listening:
	case <-time.After(30 * time.Second):
	}
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	if !ok {
		t.Fatalf("pictor did not start:\n%s", &logs)
	}
	return logs.String()
}
