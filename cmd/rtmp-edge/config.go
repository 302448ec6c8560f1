package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/rtmp-edge/rtmp-edge/edge"
)

// maxConfigSize bounds what is read and parsed: a real configuration is a few
// KiB, and the check (run on every SIGHUP too) must stay quick on anything.
const maxConfigSize = 256 << 10

// maxProblems bounds the report: past this many, the rest is noise caused by
// the first ones (a file that is not YAML at all, say).
const maxProblems = 50

// loadConfig reads, decodes and validates the file, and checks that this host
// can run it (see hostProblems): what -check, the start and SIGHUP all use.
// Every problem found comes back at once in a *configError.
func loadConfig(path string) (edge.Config, error) {
	return loadConfigFile(path, true)
}

// loadConfigFile is loadConfig; with host false it checks the file alone, for
// a file that will run on another host (an image build, a CI machine).
func loadConfigFile(path string, host bool) (edge.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return edge.Config{}, err
	}
	defer f.Close()
	// One byte past the limit is enough to tell that the file is too large.
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return edge.Config{}, err
	}
	return parseConfigHost(path, data, host)
}

// parseConfig decodes and validates one file's bytes, without looking at the
// host. It is the one place the file format is decoded.
func parseConfig(name string, data []byte) (edge.Config, error) {
	return parseConfigHost(name, data, false)
}

func parseConfigHost(name string, data []byte, host bool) (edge.Config, error) {
	var cfg edge.Config
	r := report{lines: max(1, bytes.Count(data, []byte("\n"))+1)}
	if bytes.HasSuffix(data, []byte("\n")) {
		r.lines--
	}
	if len(data) > maxConfigSize {
		r.add(1, "", fmt.Sprintf("the file is larger than %d KiB: this is not an rtmp-edge configuration", maxConfigSize>>10))
		return cfg, r.err(name)
	}
	tree := parseYAML(data, &r)
	if tree == nil {
		return cfg, r.err(name)
	}
	d := decoder{r: &r, lines: map[string]int{}, budget: maxNodes}
	d.decode(tree, &cfg)
	if err := cfg.ValidateFile(); err != nil {
		for _, fe := range fieldErrors(err) {
			line, exact := d.lineOf(fe.Path)
			// With a line the parser could not read, something reported
			// missing may well be on that line: say only what is certain.
			if !exact && r.syntax || d.failedAt(fe.Path) {
				continue
			}
			r.add(line, fe.Path, fe.Err.Error())
		}
	}
	if host {
		for _, fe := range hostProblems(&cfg) {
			line, _ := d.lineOf(fe.Path)
			r.add(line, fe.Path, fe.Err.Error())
		}
	}
	return cfg, r.err(name)
}

// fieldErrors flattens Validate's joined errors; anything that is not a
// *edge.FieldError is reported at the top of the file.
func fieldErrors(err error) []*edge.FieldError {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]*edge.FieldError, 0, len(errs))
	for _, e := range errs {
		var fe *edge.FieldError
		if !errors.As(e, &fe) {
			fe = &edge.FieldError{Err: e}
		}
		out = append(out, fe)
	}
	return out
}

// problem is one thing wrong with the file, at the line an operator edits.
type problem struct {
	line int
	path string // the key's place, e.g. backends[0].servers[2].weight; "" for the file as a whole
	msg  string
}

func (p problem) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "line %d: ", p.line)
	if p.path != "" {
		b.WriteString(p.path + ": ")
	}
	// A message of several lines (the transparent set-up commands) stays
	// readable under its line when the whole report is indented.
	b.WriteString(strings.ReplaceAll(p.msg, "\n", "\n    "))
	return b.String()
}

// report collects the problems of one file.
type report struct {
	problems []problem
	syntax   bool // the YAML parser could not read some line
	lines    int  // in the file; 0 if not known
}

func (r *report) add(line int, path, msg string) {
	if line < 1 {
		line = 1
	}
	if r.full() {
		return
	}
	for _, p := range r.problems {
		if p.line == line && p.path == path && p.msg == msg {
			return
		}
	}
	r.problems = append(r.problems, problem{line, path, msg})
}

func (r *report) full() bool { return len(r.problems) >= maxProblems }

func (r *report) err(name string) error {
	if len(r.problems) == 0 {
		return nil
	}
	for i := range r.problems {
		// The parser may place a problem at the end of the last line
		// (after its newline): that is still the last line of the file.
		if r.lines > 0 {
			r.problems[i].line = min(r.problems[i].line, r.lines)
		}
	}
	sort.SliceStable(r.problems, func(i, j int) bool { return r.problems[i].line < r.problems[j].line })
	return &configError{file: name, problems: r.problems}
}

// configError is every problem of one file. Its text is a header line and one
// indented "line N: path: message" line per problem; problemLines gives the
// problem lines alone, for a log field.
type configError struct {
	file     string
	problems []problem
}

func (e *configError) Error() string {
	var b strings.Builder
	n := len(e.problems)
	fmt.Fprintf(&b, "%s: %d error", e.file, n)
	if n != 1 {
		b.WriteString("s")
	}
	if n >= maxProblems {
		b.WriteString(" (stopped counting)")
	}
	for _, p := range e.problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// problemLines returns what loadConfig's error says, one problem a string
// ("line 12: backends[0].servers[1].weight: must be 0..256, got 300"); an error
// that is not about the file's content (it cannot be read) is one string.
func problemLines(err error) []string {
	if err == nil {
		return nil
	}
	var ce *configError
	if !errors.As(err, &ce) {
		return []string{err.Error()}
	}
	out := make([]string, len(ce.problems))
	for i, p := range ce.problems {
		out[i] = p.String()
	}
	return out
}
