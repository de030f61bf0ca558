// Package benchmd rewrites one section of BENCHMARKS.md: the Linux one
// (bench/cmd/bench), the Windows cores (BenchmarkCores) and the Windows
// engines (TestOverlappedEngineFigures) all go through Replace, so each
// leaves the others' sections, and whatever lies outside every section, as
// they were.
package benchmd

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Replace makes body the text between "<!-- name:begin -->" and
// "<!-- name:end -->" in the file at path. Without those markers it
// appends them and body at the end; without the file it creates one,
// titled "# Benchmarks". A file with only one of the markers, or with
// them out of order, is left alone and reported.
func Replace(path, name, body string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	out, err := replace(string(old), name, body)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

// replace is Replace on the file's text.
func replace(text, name, body string) (string, error) {
	begin, end := "<!-- "+name+":begin -->", "<!-- "+name+":end -->"
	if body != "" && !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	block := begin + "\n" + body + end
	i, j := strings.Index(text, begin), strings.Index(text, end)
	switch {
	case i >= 0 && j > i:
		return text[:i] + block + text[j+len(end):], nil
	case i >= 0 || j >= 0:
		return "", fmt.Errorf("unbalanced %s / %s markers", begin, end)
	case strings.TrimSpace(text) == "":
		return "# Benchmarks\n\n" + block + "\n", nil
	}
	return strings.TrimRight(text, "\n") + "\n\n" + block + "\n", nil
}
