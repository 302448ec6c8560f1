package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseConfig feeds parseConfig arbitrary bytes (SIGHUP reads whatever is
// in the file): it must not panic, and whatever it says must be a report whose
// every line number points into the input, at most maxProblems of them. Time
// is bounded by the input limit, the node budget and the parse-work bound, not
// asserted here. The corpus is testdata/*.yaml, broken files of
// TestConfigErrors' kinds, and what the fuzzer found (testdata/fuzz).
func FuzzParseConfig(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		base,
		"\tbackend: media\n",
		"listeners:\n  - name: a\n   address: x\n  - name: b\n",
		"a: \"open\nb: 2\n",
		"a: [1, 2\nb: {x: 1\n",
		"a: &a [*a]\nlisteners: *a\n",
		"b: &b {name: m}\nbackends: [{<<: *b, <<: [*b, *b]}]\n",
		"---\n---\n",
		"admin: \x00\xff\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := parseConfig("fuzz.yaml", data)
		if err == nil {
			return
		}
		var ce *configError
		if !errors.As(err, &ce) {
			t.Fatalf("not a report: %v", err)
		}
		// A last line without a newline counts; an empty file has line 1.
		lines := bytes.Count(data, []byte("\n"))
		if !bytes.HasSuffix(data, []byte("\n")) || lines == 0 {
			lines++
		}
		if len(ce.problems) == 0 || len(ce.problems) > maxProblems {
			t.Fatalf("%d problems", len(ce.problems))
		}
		for _, p := range ce.problems {
			if p.line < 1 || p.line > lines {
				t.Fatalf("line %d of a %d-line input: %v", p.line, lines, err)
			}
		}
	})
}
