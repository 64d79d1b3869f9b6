// Command sdstub serves sdclient/sdtest, the in-process stand-in for a
// Stable Diffusion WebUI (AUTOMATIC1111 or Forge API), as a standalone
// server for demos and end-to-end tests:
//
//	sdstub -addr 127.0.0.1:7861 -step-latency 20ms -flavor a1111 [-auth u:p] [-faults mask=shift] [-lenient] [-nowebui]
//
// With -rembg it serves rembg's standalone server (`rembg s --no-ui`, whose
// port is 7000) instead: POST /api/remove with a multipart file answering a
// raw PNG, GET /api/remove?url=..., GET /openapi.json (PICTOR_REMBG_URLS):
//
//	sdstub -rembg -addr 127.0.0.1:7000 [-faults mask=shift] [-lenient]
//
// It prints "sdstub listening on http://ADDR" once it accepts connections
// and stops on SIGINT or SIGTERM.
//
// -faults makes it answer wrong pictures on purpose (see sdtest.ParseFaults:
// "mask=full|empty|shift,mask_shift=N,upscale=blurry,background=offwhite"),
// to test output checks. They can be changed at run time without a restart:
//
//	curl -X PUT --data-binary 'upscale=blurry' http://127.0.0.1:7861/sdtest/faults
//	curl http://127.0.0.1:7861/sdtest/faults
//
// It is strict by default: a request key its model does not declare (a misspelt
// field, an unknown override_settings option) is a 422, where the WebUI would drop it
// silently; -lenient ignores such keys as the WebUI does. -nowebui serves the API
// without the UI's own routes (/internal/progress, /internal/ping), as the WebUI's
// --nowebui does.
//
// A bad -faults value is an error: sdstub prints it and exits with status 2.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pictor/pictor/sdclient/sdtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "sdstub: %v\n", err)
		os.Exit(2)
	}
}

// run parses args, serves until ctx ends, and shuts down.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sdstub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := sdtest.DefaultOptions()
	addr := fs.String("addr", "127.0.0.1:7861", "listen address (the WebUI's --nowebui port)")
	latency := fs.Duration("step-latency", 20*time.Millisecond, "time one sampler step takes")
	flavor := fs.String("flavor", sdtest.FlavorA1111, `"a1111" or "forge": error and 422 body shapes`)
	auth := fs.String("auth", "", `"user:pass[,user2:pass2]" to require HTTP Basic on /sdapi/v1/* (--api-auth)`)
	previews := fs.Int("preview-every", 1, "live preview every N steps; 0 = off (as --medvram)")
	checkpoints := fs.String("checkpoints", strings.Join(def.Checkpoints, ","), "comma-separated sd-models titles")
	logLevel := fs.String("log-level", "info", `request log level: "debug", "info", "warn" or "error"`)
	faultsFlag := fs.String("faults", "", `wrong pictures on purpose, e.g. "mask=shift,mask_shift=6,upscale=blurry,background=offwhite"; "" = none; PUT `+sdtest.FaultsPath+` changes them`)
	lenient := fs.Bool("lenient", false, "ignore request keys the models do not declare, as the WebUI does (default: 422 for them)")
	noWebUI := fs.Bool("nowebui", false, "serve without the UI's routes (/internal/progress, /internal/ping), as --nowebui")
	rembg := fs.Bool("rembg", false, "serve rembg's standalone server (`rembg s`: POST /api/remove) instead of a WebUI")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("log level %q: %w", *logLevel, err)
	}
	faults, err := sdtest.ParseFaults(*faultsFlag)
	if err != nil {
		return fmt.Errorf("-faults: %w", err)
	}
	opts := sdtest.Options{
		StepLatency:  *latency,
		Flavor:       *flavor,
		Auth:         *auth,
		PreviewEvery: *previews,
		Checkpoints:  splitList(*checkpoints),
		Logger:       slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		Faults:       faults,

		IgnoreUnknownFields: *lenient,
		NoWebUI:             *noWebUI,
		RembgServer:         *rembg,
	}
	stub, err := sdtest.NewUnstarted(opts)
	if err != nil {
		return err
	}
	defer stub.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *addr, err)
	}
	srv := &http.Server{Handler: stub.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "sdstub listening on http://%s\n", ln.Addr())

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Stop running and queued jobs first, so Shutdown need not wait for
	// them.
	stub.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// splitList splits a comma-separated flag, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
