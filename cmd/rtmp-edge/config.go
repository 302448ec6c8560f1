package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/rtmp-edge/rtmp-edge/edge"
)

// loadConfig reads and validates the YAML file: the one place the file format
// is decoded. Unknown keys, bad values and semantic errors all come back
// together, each with the line it is about.
func loadConfig(path string) (edge.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return edge.Config{}, err
	}
	return parseConfig(path, data)
}

func parseConfig(name string, data []byte) (edge.Config, error) {
	var cfg edge.Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("%s: the file is empty", name)
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return cfg, fmt.Errorf("%s:\n  %s", name, strings.Join(te.Errors, "\n  "))
		}
		return cfg, fmt.Errorf("%s: %w", name, err)
	}
	if err := cfg.Validate(); err != nil {
		var root yaml.Node
		_ = yaml.Unmarshal(data, &root)
		return cfg, fmt.Errorf("%s:\n  %s", name, strings.Join(withLines(&root, err), "\n  "))
	}
	return cfg, nil
}

// withLines renders each validation error as "line N: path: message".
func withLines(root *yaml.Node, err error) []string {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		var fe *edge.FieldError
		if errors.As(e, &fe) {
			out = append(out, fmt.Sprintf("line %d: %s", lineOf(root, fe.Path), e.Error()))
		} else {
			out = append(out, e.Error())
		}
	}
	return out
}

// lineOf finds the line of a path such as "backends[0].servers[2].weight"
// in the YAML tree; where the path ends at a key that is missing, it gives the
// line of the nearest node that exists.
func lineOf(root *yaml.Node, path string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, part := range strings.Split(path, ".") {
		key, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 && strings.HasSuffix(part, "]") {
			key = part[:i]
			idx, _ = strconv.Atoi(part[i+1 : len(part)-1])
		}
		next := mappingValue(n, key)
		if next == nil {
			return line
		}
		n, line = next, next.Line
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n, line = n.Content[idx], n.Content[idx].Line
		}
	}
	return line
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			// Point at the key: that is the line an operator looks for.
			v := n.Content[i+1]
			if v.Kind == yaml.ScalarNode {
				return &yaml.Node{Kind: v.Kind, Line: n.Content[i].Line, Value: v.Value}
			}
			return v
		}
	}
	return nil
}
