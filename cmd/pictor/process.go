package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/pipeline"
)

// process runs a recipe on a local file with no database or store: a quick way to try a
// recipe from a shell.
func process(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pictor process", flag.ContinueOnError)
	fs.SetOutput(stderr)
	recipePath := fs.String("recipe", "", "recipe JSON file (required)")
	maxPixels := fs.Int64("max-pixels", 50_000_000, "largest source accepted, in pixels")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *recipePath == "" || fs.NArg() != 2 {
		return errors.New("process: want -recipe FILE IMAGE OUTDIR")
	}
	body, err := os.ReadFile(*recipePath)
	if err != nil {
		return err
	}
	r, err := pipeline.ParseRecipe(body)
	if err != nil {
		return err
	}
	src, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	imaging.Startup(imaging.StartupConfig{Malloc: mallocConfig(getenv)}, slog.New(slog.NewTextHandler(stderr, nil)))
	defer imaging.Shutdown()
	out, err := pipeline.Run(ctx, pipeline.Env{MaxPixels: *maxPixels}, src, r, pipeline.RunOptions{})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(fs.Arg(1), 0o755); err != nil {
		return err
	}
	for _, o := range out {
		p := filepath.Join(fs.Arg(1), o.Output+"."+o.Format.Ext())
		if err := os.WriteFile(p, o.Data, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %dx%d %d bytes\n", p, o.Width, o.Height, len(o.Data))
	}
	return nil
}
