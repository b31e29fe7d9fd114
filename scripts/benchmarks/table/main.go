// Command table prints the README's figures table (markdown) from a results file of
// scripts/bench, with the plots beside it; with -readme it rewrites the README's
// generated block instead. Run: scripts/bench-table [-readme README.md] RESULTS.json
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vcrcovery/vcrcovery/internal/benchres"
)

func main() {
	readme := flag.String("readme", "", "rewrite this file's generated block instead of printing")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: scripts/bench-table [-readme README.md] RESULTS.json")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *readme); err != nil {
		fmt.Fprintln(os.Stderr, "bench-table:", err)
		os.Exit(1)
	}
}

func run(path, readme string) error {
	r, err := benchres.Load(path)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	var pngs []string
	for _, p := range benchres.Plots(r) {
		if _, err := os.Stat(filepath.Join(dir, p.PNG)); err == nil {
			pngs = append(pngs, p.PNG)
		}
	}
	base := "."
	if readme != "" {
		base = filepath.Dir(readme)
	}
	absBase, err := filepath.Abs(base)
	if err != nil {
		return err
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(absBase, absDir)
	if err != nil {
		return err
	}
	md := benchres.Markdown(r, rel, pngs)
	if readme == "" {
		fmt.Print(md)
		return nil
	}
	doc, err := os.ReadFile(readme)
	if err != nil {
		return err
	}
	out, err := benchres.Splice(string(doc), md)
	if err != nil {
		return fmt.Errorf("%s: %w", readme, err)
	}
	return os.WriteFile(readme, []byte(out), 0o644)
}
