package benchmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReplace(t *testing.T) {
	for _, tc := range []struct {
		name, old, body, want string
	}{
		{"replaces only its section",
			"# B\n\n<!-- linux:begin -->\nold\n<!-- linux:end -->\n\n<!-- w:begin -->\nkeep\n<!-- w:end -->\n",
			"new\n",
			"# B\n\n<!-- linux:begin -->\nnew\n<!-- linux:end -->\n\n<!-- w:begin -->\nkeep\n<!-- w:end -->\n"},
		{"appends a missing section", "# B\n\ntext\n\n\n", "x",
			"# B\n\ntext\n\n<!-- linux:begin -->\nx\n<!-- linux:end -->\n"},
		{"creates the file", "", "x\n", "# Benchmarks\n\n<!-- linux:begin -->\nx\n<!-- linux:end -->\n"},
		{"empty body", "<!-- linux:begin -->\nold\n<!-- linux:end -->", "", "<!-- linux:begin -->\n<!-- linux:end -->"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
			if tc.old != "" {
				if err := os.WriteFile(path, []byte(tc.old), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := Replace(path, "linux", tc.body); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestReplaceUnbalanced(t *testing.T) {
	for _, old := range []string{
		"<!-- linux:begin -->\nno end\n",
		"no begin\n<!-- linux:end -->\n",
		"<!-- linux:end -->\n<!-- linux:begin -->\n",
	} {
		path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
		if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
			t.Fatal(err)
		}
		err := Replace(path, "linux", "x\n")
		if err == nil || !strings.Contains(err.Error(), "unbalanced") {
			t.Fatalf("Replace on %q = %v, want the unbalanced markers reported", old, err)
		}
		if got, _ := os.ReadFile(path); string(got) != old {
			t.Fatalf("file changed to %q", got)
		}
	}
}
