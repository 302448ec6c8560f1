package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// maxSyntaxRetries bounds how often a line the parser stopped at is blanked
// and the file parsed again to find what comes after it.
const maxSyntaxRetries = 10

// parseWork bounds, in multiples of the file's size, the bytes parsed while
// looking for broken lines, so a large broken file costs a few parses of
// itself, not dozens.
const parseWork = 8

// parseYAML turns the bytes into one YAML document tree, reporting in r what
// the parser cannot read. It returns nil when nothing could be parsed.
//
// The parser stops at its first error. To still report the rest, lines that
// are certainly broken (a tab in the indentation, control characters, bytes
// that are not UTF-8) are found by a scan of their own and blanked, and then
// each line the parser stops at is reported and blanked too, until the file
// parses. Blanking keeps every other line where it was, so the line numbers
// of what is found later are still the operator's.
func parseYAML(data []byte, r *report) *yaml.Node {
	lines := bytes.SplitAfter(data, []byte("\n"))
	blank := func(i int) {
		if i >= 0 && i < len(lines) {
			lines[i] = []byte("\n")
		}
	}
	for i, l := range lines {
		if msg := lineProblem(l, i == 0); msg != "" {
			r.add(i+1, "", msg)
			r.syntax = true
			blank(i)
		}
	}
	blanked := map[int]bool{}
	work := parseWork*len(data) + 256<<10
	parse := func(lines [][]byte) (*yaml.Node, int, error) {
		b := bytes.Join(lines, nil)
		work -= len(b)
		return parseDocuments(b)
	}
	for attempt := 0; ; attempt++ {
		doc, extra, err := parse(lines)
		if err == nil {
			if extra > 0 {
				r.add(extra, "", "a second YAML document starts here (---): the file must hold one")
			}
			if doc == nil || len(doc.Content) == 0 || isNull(doc.Content[0]) {
				if !r.syntax {
					r.add(1, "", "the file is empty: it needs listeners and backends")
				}
				return nil
			}
			return doc
		}
		line, msg := locate(lines, err, parse, &work)
		r.syntax = true
		r.add(line, "", msg)
		if attempt == maxSyntaxRetries || blanked[line] || r.full() || work <= 0 {
			return nil
		}
		blanked[line] = true
		blank(line - 1)
	}
}

// locate finds the line a parser error is about. The parser names the start
// of the construct it was in (the list, say) more often than the line that
// broke it, so the line is searched for: the first line whose addition makes
// the file's beginning unparsable, between the parser's line and the end.
// Each step parses a prefix of the file, so this costs log2(lines) parses.
func locate(lines [][]byte, err error, parse func([][]byte) (*yaml.Node, int, error), work *int) (int, string) {
	line, msg := syntaxProblem(err, len(lines))
	fails := func(n int) error {
		_, _, err := parse(lines[:n])
		return err
	}
	lo, hi := line-1, len(lines) // the first lo lines parse; all hi lines do not
	if lo > 0 && fails(lo) != nil {
		lo = 0
	}
	for hi-lo > 1 {
		if *work <= 0 {
			// Out of work: the parser's own line is the best there is.
			return line, msg
		}
		mid := lo + (hi-lo)/2
		if fails(mid) != nil {
			hi = mid
		} else {
			lo = mid
		}
	}
	if hi == line {
		return line, msg
	}
	if err := fails(hi); err != nil {
		_, msg = syntaxProblem(err, hi)
	}
	return hi, msg
}

// parseDocuments parses the first document and reports the line of a second
// one, if any. A panic in the parser is a syntax error too: no input may take
// the process (or a SIGHUP reload) down.
func parseDocuments(data []byte) (doc *yaml.Node, extra int, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("yaml: the YAML parser failed on this file (%v)", p)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first yaml.Node
	if err := dec.Decode(&first); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, nil
		}
		return nil, 0, err
	}
	var second yaml.Node
	switch err := dec.Decode(&second); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, 0, err
	default:
		extra = second.Line
		if len(second.Content) > 0 {
			extra = second.Content[0].Line
		}
	}
	return &first, extra, nil
}

// lineProblem finds what makes one line unreadable for certain, whatever its
// place in the file.
func lineProblem(l []byte, first bool) string {
	if first {
		l = bytes.TrimPrefix(l, []byte("\ufeff"))
	}
	l = bytes.TrimSuffix(bytes.TrimSuffix(l, []byte("\n")), []byte("\r"))
	if !utf8.Valid(l) {
		return "the file is not UTF-8 text here (save it as UTF-8)"
	}
	for _, c := range l {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return fmt.Sprintf("control character 0x%02x: a configuration is plain text", c)
		}
	}
	content := bytes.TrimLeft(l, " \t")
	indent := l[:len(l)-len(content)]
	if bytes.IndexByte(indent, '\t') >= 0 && len(content) > 0 && content[0] != '#' {
		return "YAML indents with spaces; this line has a tab"
	}
	return ""
}

// syntaxProblem translates a YAML parser error into the line it is about and
// an operator's words.
func syntaxProblem(err error, nlines int) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				line, msg = n, rest[i+2:]
				// The parser (unlike its scanner) numbers from 0 here.
				if !scannerProblems[msg] {
					line++
				}
			}
		}
	}
	if line > nlines {
		line = nlines
	}
	for prefix, words := range syntaxWords {
		if strings.HasPrefix(msg, prefix) {
			return line, words
		}
	}
	if strings.HasPrefix(msg, "unknown anchor") {
		// "unknown anchor 'x' referenced": the parser does not say where.
		return line, strings.Replace(strings.Replace(msg, "unknown anchor", "alias", 1), "referenced", "names no anchor (&name) defined above it", 1)
	}
	return line, "not valid YAML: " + msg
}

// scannerProblems are the messages of the YAML scanner, whose line numbers
// count from 1; the parser's count from 0.
var scannerProblems = map[string]bool{
	"found character that cannot start any token":                  true,
	"found a tab character that violates indentation":              true,
	"found a tab character where an indentation space is expected": true,
	"mapping values are not allowed in this context":               true,
	"found unexpected end of stream":                               true,
	"found unknown escape character":                               true,
	"could not find expected ':'":                                  true,
	"block sequence entries are not allowed in this context":       true,
	"did not find expected alphabetic or numeric character":        true,
	"did not find expected comment or line break":                  true,
	"found unexpected ':'":                                         true,
}

var syntaxWords = map[string]string{
	"found character that cannot start any token":            "a value cannot start with this character (@, ` or %): put the value in quotes",
	"found a tab character":                                  "YAML indents with spaces; this line has a tab",
	"mapping values are not allowed in this context":         `a second "key:" on one line: put a value containing ": " in quotes, or check the indentation`,
	"found unexpected end of stream":                         "a quote opened here is not closed: the file ends inside the quoted value",
	"found unknown escape character":                         `unknown \ escape in a "double-quoted" value: use 'single quotes' for a backslash`,
	"could not find expected ':'":                            `expected "key: value" here: a ':' is missing, or a quote is not closed`,
	"block sequence entries are not allowed in this context": `a "- " list item where a value was expected: start the list on the next line, indented`,
	"did not find expected key":                              "this line's indentation does not match the keys above it",
	"did not find expected '-' indicator":                    `this line's indentation does not match the "- " items of the list above it`,
	"did not find expected ',' or ']'":                       "a [ list ] is not closed with ]",
	"did not find expected ',' or '}'":                       "a { map } is not closed with }",
	"did not find expected node content":                     "a value is missing here",
	"did not find expected <document start>":                 `unexpected text after the end of the document ("..." or "---")`,
	"did not find expected alphabetic or numeric character":  "an anchor (&name) or alias (*name) needs a name",
	"did not find expected comment or line break":            "unexpected text after a value: put a value with spaces or # in quotes",
	"found undefined tag handle":                             "unknown !tag: rtmp-edge uses plain values",
}
