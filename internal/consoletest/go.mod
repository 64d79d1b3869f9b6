module github.com/pictor/pictor/internal/consoletest

go 1.26.8

require (
	github.com/chromedp/chromedp v0.23.0
	github.com/pictor/pictor v0.0.0
)

require (
	github.com/chromedp/cdproto v0.159.0 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
)

// The console tests run against this tree's service, never a published one.
replace github.com/pictor/pictor => ../..
