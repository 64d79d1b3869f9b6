// Command pictor is the Pictor image service: an HTTP API and its workers in one binary.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "pictor:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

const usage = `pictor — an image service for e-commerce catalogs

Usage:
  pictor serve [flags]     run the HTTP API and workers (the default shape: SQLite and ./data)
  pictor worker [flags]    run only the job workers (scaled out, on PostgreSQL)
  pictor migrate [flags]   apply database migrations and exit
  pictor process [flags] -recipe FILE IMAGE OUTDIR
                           run a recipe on a local file, writing each output to OUTDIR
  pictor sign [-base URL] [-width W] RECIPE IMAGE-ID EXT
                           print a signed /img URL (PICTOR_URL_SIGNING_KEY)
  pictor keys new [-scopes read,write] [-name NAME]
                           make an API key; prints it once, and the PICTOR_API_KEYS value
  pictor batch submit MANIFEST --recipe NAME [--trial N] [--detach]
                           run a recipe over a manifest on a running service, with progress
  pictor batch wait|status|pause|resume|cancel|retry|results ID, pictor batch list
                           follow and steer batches (PICTOR_SERVER, PICTOR_API_KEY)
  pictor version           print the version

Every flag has a PICTOR_ environment variable; see 'pictor serve -help'.
`

// run is main without the process: tests call it with their own args, env and streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, args[1:], getenv, stdout, stderr)
	case "process":
		return process(ctx, args[1:], getenv, stdout, stderr)
	case "sign":
		return sign(ctx, args[1:], getenv, stdout, stderr)
	case "keys":
		return keys(ctx, args[1:], getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "pictor", version)
		return nil
	case "worker":
		return worker(ctx, args[1:], getenv, stdout, stderr)
	case "batch":
		return batch(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "pictor: unknown command %q\n\n%s", args[0], usage)
	return errUsage
}
