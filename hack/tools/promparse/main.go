// promparse reads a Prometheus text exposition on stdin and parses it with the reference
// parser (github.com/prometheus/common/expfmt, as Prometheus itself does). It prints one
// line per family, "name type samples", and exits 1 with the parser's error on bad input.
// Tests of csi-jfs's metrics endpoints run it on what they scrape.
package main

import (
	"fmt"
	"os"
	"sort"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func main() {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "promparse:", err)
		os.Exit(1)
	}
	names := make([]string, 0, len(families))
	for n := range families {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := families[n]
		fmt.Printf("%s %s %d\n", n, f.GetType().String(), len(f.GetMetric()))
	}
}
