// Package console is the designers' console: static HTML, CSS and JavaScript modules embedded
// in the binary, served under /console/ by package api (Deps.Console). It has no build step
// and speaks only the public v1 API, so anything it does a script can do too.
package console

import (
	"embed"
	"io/fs"
)

//go:embed static
var files embed.FS

// FS holds the console's files with index.html at its root, ready for api.Deps.Console.
// It is read-only and never changes at run time.
var FS fs.FS = mustSub(files, "static")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil { // cannot happen: dir is embedded above
		panic(err)
	}
	return sub
}
