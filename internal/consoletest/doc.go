// Package consoletest drives the designers' console (api/console) in Debian's headless
// Chromium against a real `pictor serve` with cmd/sdstub as its WebUI: sign in, upload,
// a 3-variant scene with live progress and approval, a batch from a CSV with a trial run,
// the backends page, the review queue (held renditions approved and rejected by key,
// then approved in bulk), and catalog campaigns (the selection builder's live count and the
// batch it makes, a delayed start, the XLSX results, an approved scene applied to products,
// a manifest URL on a schedule). It holds tests only.
//
// The tests need PICTOR_TEST_CHROMIUM (the path of a Chromium binary; `make test` sets it)
// and skip without it, unless PICTOR_TEST_REQUIRE_SERVICES=1 makes that a failure. With
// PICTOR_UPDATE_SCREENSHOTS=1 they write the README's screenshots to docs/screenshots;
// otherwise the screenshots go to a temporary directory.
//
// It is a module of its own (github.com/pictor/pictor/internal/consoletest, which requires
// this tree's github.com/pictor/pictor through a replace), so that chromedp stays out of the
// service's dependencies. Run it with `make test PKGS=./internal/consoletest/` or
// `go test -C internal/consoletest ./...`.
package consoletest
