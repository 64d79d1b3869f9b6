package imaging

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/davidbyttow/govips/v2/vips"
)

func TestLogHandlerLevels(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	h := logHandler(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	tests := []struct {
		domain string
		level  vips.LogLevel
		msg    string
		want   string // the level slog writes
		absent string // what must not reach the log
	}{
		{"govips", vips.LogLevelError, "failed to do icc transform: VipsIcc: Couldn't link the profiles\n\nStack:\ngoroutine 7 [running]:\nruntime/debug.Stack()", "level=DEBUG", "goroutine"},
		{"VIPS", vips.LogLevelError, "vips_region_fill: out of memory", "level=ERROR", ""},
		{"VIPS", vips.LogLevelWarning, "error in tile 0 x 8", "level=WARN", ""},
		{"VIPS", vips.LogLevelMessage, "a message", "level=INFO", ""},
		{"VIPS", vips.LogLevelDebug, "chatter", "level=DEBUG", ""},
	}
	for _, tt := range tests {
		buf.Reset()
		h(tt.domain, tt.level, tt.msg)
		got := buf.String()
		if !strings.Contains(got, tt.want) || !strings.Contains(got, "domain="+tt.domain) {
			t.Errorf("%s %v %q: logged %q, want %s", tt.domain, tt.level, tt.msg, got, tt.want)
		}
		if tt.absent != "" && strings.Contains(got, tt.absent) {
			t.Errorf("%s %v: logged %q, want no %q", tt.domain, tt.level, got, tt.absent)
		}
	}
}

func TestLogHandlerLimitsWarnings(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	h := logHandlerClock(slog.New(slog.NewTextHandler(&buf, nil)), func() time.Time { return now })
	for i := range 3 * warnBurst {
		h("VIPS", vips.LogLevelWarning, fmt.Sprintf("error in tile 0 x %d", i*8))
	}
	h("VIPS", vips.LogLevelError, "an error is never limited")
	if got := strings.Count(buf.String(), "error in tile"); got != warnBurst {
		t.Errorf("in one second: %d warnings logged, want %d", got, warnBurst)
	}
	if !strings.Contains(buf.String(), "an error is never limited") {
		t.Error("the error was not logged")
	}
	buf.Reset()
	now = now.Add(time.Second)
	h("VIPS", vips.LogLevelWarning, "the next second")
	out := buf.String()
	if !strings.Contains(out, fmt.Sprintf("count=%d", 2*warnBurst)) || !strings.Contains(out, "the next second") {
		t.Errorf("next second logged %q, want the %d dropped counted and the new warning", out, 2*warnBurst)
	}
}
