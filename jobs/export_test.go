package jobs

import (
	"fmt"
	"strings"
)

// URLManifest is a CSV manifest of n rows, base + "/img/<i>.jpg" (for the tests of
// package jobs_test too).
func URLManifest(base string, n int) string {
	var csv strings.Builder
	csv.WriteString("url\n")
	for i := range n {
		fmt.Fprintf(&csv, "%s/img/%d.jpg\n", base, i)
	}
	return csv.String()
}
