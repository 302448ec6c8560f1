package main

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rtmp-edge/rtmp-edge/edge"
)

// maxNodes bounds the values one file may expand to: aliases can nest
// (a "billion laughs" file is a few lines), and a real configuration has a few
// thousand values at most.
const maxNodes = 100_000

// maxDepth bounds nesting, so an alias that contains itself ends too.
const maxDepth = 64

// decoder fills a Go value from a YAML tree by the structs' yaml tags, as the
// YAML library would, but reports every problem in an operator's words
// (unknown keys with the key probably meant, values of the wrong kind) and
// goes on after each one, so that one run finds them all. It also remembers
// the line of every key, so errors found later by Validate get their lines.
type decoder struct {
	r      *report
	lines  map[string]int  // path ("listeners[1].address") → line of its key or list item
	bad    map[string]bool // paths whose value could not be decoded
	budget int
	over   bool // budget spent: reported once, nothing more decoded
}

// fail reports a value that cannot be decoded. The path is remembered: what
// Validate then says about it (or inside it) is a consequence, not news.
func (d *decoder) fail(line int, path, msg string) {
	if d.bad == nil {
		d.bad = map[string]bool{}
	}
	d.bad[path] = true
	d.r.add(line, path, msg)
}

// failedAt reports whether path, or a key or list it is inside, could not be
// decoded.
func (d *decoder) failedAt(path string) bool {
	for {
		if d.bad[path] {
			return true
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return d.bad[""]
		}
		path = path[:i]
	}
}

func (d *decoder) decode(doc *yaml.Node, out any) {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	d.lines[""] = n.Line
	if n.Kind != yaml.MappingNode && !isNull(n) {
		d.fail(n.Line, "", fmt.Sprintf("the file must be a map of keys (%s), not %s", strings.Join(keyNames(reflect.TypeOf(out).Elem()), ", "), describe(n)))
		return
	}
	d.value(n, reflect.ValueOf(out).Elem(), "", 0)
}

// lineOf is the line of path, or of the nearest enclosing key that is in the
// file when path itself is not (a required key that is missing); exact says
// which.
func (d *decoder) lineOf(path string) (line int, exact bool) {
	exact = true
	for {
		if l, ok := d.lines[path]; ok {
			return l, exact
		}
		exact = false
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return d.lines[""], false
		}
		path = path[:i]
	}
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

func (d *decoder) value(n *yaml.Node, v reflect.Value, path string, depth int) {
	if d.over {
		return
	}
	d.budget--
	if d.budget < 0 || depth > maxDepth {
		d.over = true
		d.fail(n.Line, "", "the file expands to too many values: an alias (*name) nests too deep or contains itself")
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		d.value(n.Alias, v, path, depth+1)
		return
	}
	if isNull(n) {
		// "key:" with nothing after it, or "~": the key's default, as if omitted.
		v.Set(reflect.Zero(v.Type()))
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		// A type that decodes itself knows its own format better than the
		// tags can say; its error is passed on without the library's prefix.
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.fail(n.Line, path, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return
	}
	switch {
	case v.Type() == durationType:
		if s, ok := d.scalar(n, path, "a duration"); ok {
			dur, err := time.ParseDuration(s)
			if err != nil {
				d.fail(n.Line, path, fmt.Sprintf("%q is not a duration: use e.g. 500ms, 2s, 20m", s))
				return
			}
			v.SetInt(int64(dur))
		}
		return
	case v.Kind() == reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.value(n, p.Elem(), path, depth+1)
		v.Set(p)
		return
	case v.Kind() == reflect.Struct:
		d.mapping(n, v, path, depth)
		return
	case v.Kind() == reflect.Slice:
		d.sequence(n, v, path, depth)
		return
	}
	switch v.Kind() {
	case reflect.String:
		if s, ok := d.scalar(n, path, "a single value"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if s, ok := d.scalar(n, path, "true or false"); ok {
			var b bool
			if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 && (s == "true" || s == "false") {
				d.fail(n.Line, path, fmt.Sprintf("must be true or false without quotes, got %q", s))
				return
			}
			if n.Tag != "!!bool" || n.Decode(&b) != nil {
				d.fail(n.Line, path, fmt.Sprintf("must be true or false, got %q", s))
				return
			}
			v.SetBool(b)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if s, ok := d.scalar(n, path, "a number"); ok {
			if quotedNumber(n) {
				d.fail(n.Line, path, fmt.Sprintf("must be a number without quotes, got %q", s))
				return
			}
			var i int64
			// Digits beyond int64 resolve as a float: they are a number,
			// only too large.
			if n.Tag != "!!int" && !(n.Tag == "!!float" && strings.Trim(s, "+-0123456789") == "") {
				d.fail(n.Line, path, fmt.Sprintf("must be a whole number, got %q", s))
				return
			}
			if n.Decode(&i) != nil || v.OverflowInt(i) {
				d.fail(n.Line, path, fmt.Sprintf("%s is too large", s))
				return
			}
			v.SetInt(i)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if s, ok := d.scalar(n, path, "a number"); ok {
			var u uint64
			if n.Tag != "!!int" || strings.HasPrefix(s, "-") {
				d.fail(n.Line, path, fmt.Sprintf("must be a whole number >= 0, got %q", s))
				return
			}
			if n.Decode(&u) != nil || v.OverflowUint(u) {
				d.fail(n.Line, path, fmt.Sprintf("%s is too large", s))
				return
			}
			v.SetUint(u)
		}
	case reflect.Float32, reflect.Float64:
		if s, ok := d.scalar(n, path, "a number"); ok {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				d.fail(n.Line, path, fmt.Sprintf("must be a number, got %q", s))
				return
			}
			v.SetFloat(f)
		}
	default:
		// Only reachable if a config struct gains a field of a kind this
		// decoder was not taught; the decoder test over every key catches it.
		d.fail(n.Line, path, fmt.Sprintf("rtmp-edge cannot read this key (internal: no decoding for %s)", v.Type()))
	}
}

// scalar returns a single value's text, or reports that a list or map was
// given where want was expected.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n.Line, path, fmt.Sprintf("must be %s, not %s", want, describe(n)))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string, depth int) {
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if n.Kind == yaml.ScalarNode {
			hint = fmt.Sprintf(", e.g. [%s]", n.Value)
		}
		d.fail(n.Line, path, fmt.Sprintf(`must be a list ("- item" lines or [a, b])%s, not %s`, hint, describe(n)))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		p := path + "[" + strconv.Itoa(i) + "]"
		d.lines[p] = item.Line
		d.value(item, s.Index(i), p, depth+1)
	}
	v.Set(s)
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string, depth int) {
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, fmt.Sprintf(`must be a map of keys ("key: value" lines or {key: value}), not %s`, describe(n)))
		return
	}
	fields := fieldsOf(v.Type())
	seen := map[string]int{}
	for _, kv := range d.pairs(n, path, depth) {
		k, val := kv[0], kv[1]
		if k.Kind != yaml.ScalarNode {
			d.r.add(k.Line, path, "a key must be a plain name, not "+describe(k))
			continue
		}
		name := k.Value
		p := name
		if path != "" {
			p = path + "." + name
		}
		if first, dup := seen[name]; dup {
			if kv[2] == nil { // an explicit key, not one merged in with <<
				d.r.add(k.Line, p, fmt.Sprintf("%s is given twice (first on line %d): remove one", name, first))
			}
			continue
		}
		f, ok := fields[name]
		if !ok {
			// The place is the enclosing map: the key itself is what is wrong.
			d.r.add(k.Line, path, unknownKey(name, v.Type()))
			continue
		}
		seen[name] = k.Line
		d.lines[p] = k.Line
		d.value(val, v.FieldByIndex(f), p, depth+1)
	}
}

// pairs lists a mapping's key/value pairs with YAML merge keys ("<<: *base")
// expanded after the explicit ones, so an explicit key wins over a merged one
// (the third element is non-nil for merged pairs).
func (d *decoder) pairs(n *yaml.Node, path string, depth int) [][3]*yaml.Node {
	var own, merged [][3]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merged = append(merged, d.merge(val, path, depth)...)
			continue
		}
		own = append(own, [3]*yaml.Node{k, val, nil})
	}
	return append(own, merged...)
}

func (d *decoder) merge(val *yaml.Node, path string, depth int) [][3]*yaml.Node {
	d.budget--
	if d.budget < 0 || depth > maxDepth {
		return nil
	}
	for val.Kind == yaml.AliasNode && val.Alias != nil {
		val = val.Alias
	}
	switch val.Kind {
	case yaml.MappingNode:
		ps := d.pairs(val, path, depth+1)
		for i := range ps {
			ps[i][2] = val
		}
		return ps
	case yaml.SequenceNode:
		var out [][3]*yaml.Node
		for _, item := range val.Content {
			out = append(out, d.merge(item, path, depth+1)...)
		}
		return out
	}
	d.fail(val.Line, path, "<< merges a map (an alias such as *defaults), not "+describe(val))
	return nil
}

// quotedNumber is "10" in quotes: YAML makes it a string, which an operator
// rarely means.
func quotedNumber(n *yaml.Node) bool {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
		return false
	}
	_, err := strconv.ParseInt(n.Value, 10, 64)
	return err == nil
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// describe names what the operator wrote, for "must be X, not Y".
func describe(n *yaml.Node) string {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a map (key: value)"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "this"
}

// unknownKey says a key is not known at its place and suggests the key meant,
// the nearest valid one by edit distance when it is near enough to be a typo.
func unknownKey(name string, t reflect.Type) string {
	keys := keyNames(t)
	best, bestD := "", -1
	for _, k := range keys {
		dist := editDistance(strings.ToLower(name), k)
		if bestD < 0 || dist < bestD {
			best, bestD = k, dist
		}
	}
	// Within 2 edits, or a third of the key for long ones: further than that
	// a suggestion is a guess.
	if now, ok := renamedKeys[name]; ok {
		return fmt.Sprintf("unknown key %s: %s", name, now)
	}
	typo := bestD >= 0 && bestD <= max(2, len(best)/3) && bestD < len(name)
	// A key that is right but in the wrong place (an indentation slip) is
	// told where it belongs, unless a key here is one letter away.
	if places := placesOf(name); len(places) > 0 && !(typo && bestD <= 1) {
		return fmt.Sprintf("unknown key %s here: it belongs in %s", name, orList(places))
	}
	if typo {
		return fmt.Sprintf("unknown key %s (did you mean %s?)", name, best)
	}
	return fmt.Sprintf("unknown key %s (valid here: %s)", name, strings.Join(keys, ", "))
}

// renamedKeys are keys of earlier versions, with what replaced them.
var renamedKeys = map[string]string{
	"metrics": "it is now admin: (address, token), which serves /metrics, /healthz, the JSON API and the stats page",
}

// placesOf lists where in the file a key is valid, as "backends[].servers[]".
func placesOf(key string) []string {
	keyPlacesOnce.Do(func() {
		keyPlaces = map[string][]string{}
		var walk func(t reflect.Type, place string, depth int)
		walk = func(t reflect.Type, place string, depth int) {
			if depth > 8 {
				return
			}
			for _, k := range keyNames(t) {
				where := place
				if where == "" {
					where = "the top level"
				}
				keyPlaces[k] = append(keyPlaces[k], where)
				ft := t.FieldByIndex(fieldsOf(t)[k]).Type
				sub := place + "." + k
				if place == "" {
					sub = k
				}
				for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
					if ft.Kind() == reflect.Slice {
						sub += "[]"
					}
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct && ft != durationType {
					walk(ft, sub, depth+1)
				}
			}
		}
		walk(reflect.TypeFor[edge.Config](), "", 0)
	})
	return keyPlaces[key]
}

var (
	keyPlacesOnce sync.Once
	keyPlaces     map[string][]string // key → the places it is valid
)

func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// editDistance is the Levenshtein distance between a and b, in bytes (keys
// are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// fieldsOf maps a struct's YAML keys to field indexes, inline structs
// flattened, following the yaml tags exactly as the YAML library does
// (no tag: the field name in lower case; "-": skipped).
func fieldsOf(t reflect.Type) map[string][]int {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string][]int)
	}
	out := map[string][]int{}
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			idx := append(append([]int(nil), index...), i)
			if strings.Contains(","+opts+",", ",inline,") && f.Type.Kind() == reflect.Struct {
				walk(f.Type, idx)
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			out[name] = idx
		}
	}
	walk(t, nil)
	fieldCache.Store(t, out)
	return out
}

var fieldCache sync.Map // reflect.Type → map[string][]int

// keyNames lists a struct's keys in declaration order, for messages.
func keyNames(t reflect.Type) []string {
	f := fieldsOf(t)
	names := make([]string, 0, len(f))
	for k := range f {
		names = append(names, k)
	}
	// Declaration order reads like the documentation of the struct.
	less := func(a, b []int) bool {
		for i := 0; i < len(a) && i < len(b); i++ {
			if a[i] != b[i] {
				return a[i] < b[i]
			}
		}
		return len(a) < len(b)
	}
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && less(f[names[j]], f[names[j-1]]); j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
	return names
}
