package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rtmp-edge/rtmp-edge/edge"
	"github.com/rtmp-edge/rtmp-edge/routing"
	"github.com/rtmp-edge/rtmp-edge/upstream"
)

func TestSeedConfigParses(t *testing.T) {
	cfg, err := parseFile(t, "testdata/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.Backends[0]
	if len(cfg.Listeners) != 2 || b.Name != "media" || len(b.Servers) != 3 {
		t.Fatalf("unexpected shape: %+v", cfg)
	}
	if b.Stick.Size != 200000 || b.Stick.Expire != 20*time.Minute || b.Check.Interval != 2*time.Second {
		t.Fatalf("stick/check not decoded: %+v %+v", b.Stick, b.Check)
	}
	if !b.Servers[2].Upload || b.Servers[2].Weight == nil || *b.Servers[2].Weight != 8 || b.Source != "clientip" {
		t.Fatalf("server fields not decoded: %+v", b.Servers[2])
	}
}

// testdata/full.yaml sets every key to a value that is not its default: each
// one must arrive in its field. Every field of the configuration is checked
// (not a list of them), so a key the decoder drops, or a key added without a
// line in full.yaml, fails here. The file is decoded without Validate: its
// certificate files do not exist and some values contradict each other.
func TestFullConfigDecodesEveryKey(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var r report
	tree := parseYAML(data, &r)
	var cfg edge.Config
	if tree != nil {
		d := decoder{r: &r, lines: map[string]int{}, budget: maxNodes}
		d.decode(tree, &cfg)
	}
	if len(r.problems) > 0 {
		t.Fatalf("full.yaml: %v", r.err("full.yaml"))
	}
	for _, path := range zeroFields(reflect.ValueOf(cfg), "") {
		t.Errorf("%s: not decoded (or missing in testdata/full.yaml)", path)
	}
	b := cfg.Backends[0]
	if b.Stick.Expire != 5*time.Minute || b.IdleTimeout != -time.Second || cfg.Listeners[0].RTMPT.HTTPWriteTimeout != 8*time.Second {
		t.Errorf("durations: expire %v, idle_timeout %v, http_write_timeout %v", b.Stick.Expire, b.IdleTimeout, cfg.Listeners[0].RTMPT.HTTPWriteTimeout)
	}
	if got := fmt.Sprint(reflect.Indirect(reflect.ValueOf(b.Servers[0].Weight))); got != "7" {
		t.Errorf("servers[0].weight = %s, want 7", got)
	}
}

// zeroFields lists the keys (as paths) whose fields hold their zero value.
func zeroFields(v reflect.Value, path string) []string {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return []string{path}
		}
		return zeroFields(v.Elem(), path)
	case reflect.Slice:
		if v.Len() == 0 {
			return []string{path}
		}
		var out []string
		for i := 0; i < v.Len(); i++ {
			out = append(out, zeroFields(v.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	case reflect.Struct:
		if v.Type() == durationType {
			break
		}
		var out []string
		for _, k := range keyNames(v.Type()) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			out = append(out, zeroFields(v.FieldByIndex(fieldsOf(v.Type())[k]), p)...)
		}
		return out
	}
	if v.IsZero() {
		return []string{path}
	}
	return nil
}

// A valid file the cases below break one line of; the line numbers in the
// cases are this file's.
const base = `admin:
  address: "127.0.0.1:9935"
listeners:
  - name: rtmp
    address: ":1935"
    backend: media
backends:
  - name: media
    servers:
      - { name: media01, address: "127.0.0.1:1936", weight: 10 }
`

// edit replaces the line holding old (once) in base.
func edit(t *testing.T, old, new string) string {
	t.Helper()
	if strings.Count(base, old) != 1 {
		t.Fatalf("base has no single %q", old)
	}
	return strings.Replace(base, old, new, 1)
}

// One case per kind of error, each with the exact lines -check prints.
func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown key, with the key meant",
			edit(t, "    backend: media\n", "    backend: media\n    handshake_timout: 2s\n"),
			[]string{"line 7: listeners[0]: unknown key handshake_timout (did you mean handshake_timeout?)"}},
		{"unknown key in a backend, with the key meant",
			edit(t, "  - name: media\n", "  - name: media\n    queue_timout: 10s\n"),
			[]string{"line 9: backends[0]: unknown key queue_timout (did you mean queue_timeout?)"}},
		{"unknown key far from any, with the keys valid there",
			edit(t, "admin:\n", "admin:\n  colour: blue\n"),
			[]string{"line 2: admin: unknown key colour (valid here: address, token)"}},
		{"a key in the wrong place",
			edit(t, "    backend: media\n", "    backend: media\n    weight: 5\n"),
			[]string{"line 7: listeners[0]: unknown key weight here: it belongs in backends[].servers[]"}},
		{"unknown top-level key",
			"metrics:\n  address: \"127.0.0.1:9935\"\n" + base[strings.Index(base, "listeners:"):],
			[]string{"line 1: unknown key metrics: it is now admin: (address, token), which serves /metrics, /healthz, the JSON API and the stats page"}},
		{"unknown top-level key, far from any",
			"colour: blue\n" + base,
			[]string{"line 1: unknown key colour (valid here: admin, listeners, backends)"}},
		{"key given twice",
			edit(t, "    backend: media\n", "    backend: media\n    backend: other\n"),
			[]string{"line 7: listeners[0].backend: backend is given twice (first on line 6): remove one"}},
		{"bad duration",
			edit(t, "    backend: media\n", "    backend: media\n    handshake_timeout: 2sec\n"),
			[]string{`line 7: listeners[0].handshake_timeout: "2sec" is not a duration: use e.g. 500ms, 2s, 20m`}},
		{"duration without a unit",
			edit(t, "    backend: media\n", "    backend: media\n    handshake_timeout: 5\n"),
			[]string{`line 7: listeners[0].handshake_timeout: "5" is not a duration: use e.g. 500ms, 2s, 20m`}},
		{"negative duration",
			edit(t, "    backend: media\n", "    backend: media\n    inspect_time: -1s\n"),
			[]string{"line 7: listeners[0].inspect_time: must not be negative, got -1s"}},
		{"not a number",
			edit(t, "    backend: media\n", "    backend: media\n    maxconn: ten\n"),
			[]string{`line 7: listeners[0].maxconn: must be a whole number, got "ten"`}},
		{"a number too large",
			edit(t, "    backend: media\n", "    backend: media\n    maxconn: 99999999999999999999\n"),
			[]string{"line 7: listeners[0].maxconn: 99999999999999999999 is too large"}},
		{"a number in quotes",
			edit(t, "    backend: media\n", "    backend: media\n    maxconn: \"600\"\n"),
			[]string{`line 7: listeners[0].maxconn: must be a number without quotes, got "600"`}},
		{"not true or false",
			edit(t, "    backend: media\n", "    backend: media\n    accept_proxy: yes\n"),
			[]string{`line 7: listeners[0].accept_proxy: must be true or false, got "yes"`}},
		{"a single value where a list belongs",
			edit(t, "    backend: media\n", "    backend: media\n    protocols: rtmp\n"),
			[]string{`line 7: listeners[0].protocols: must be a list ("- item" lines or [a, b]), e.g. [rtmp], not "rtmp"`}},
		{"a list where a map belongs",
			edit(t, "  - name: media\n", "  - name: media\n    stick: [1000, 20m]\n"),
			[]string{`line 9: backends[0].stick: must be a map of keys ("key: value" lines or {key: value}), not a list`}},
		{"a map where a value belongs",
			edit(t, "    backend: media\n", "    backend: {name: media}\n"),
			[]string{"line 6: listeners[0].backend: must be a single value, not a map (key: value)"}},
		{"tab",
			edit(t, "    backend: media\n", "\tbackend: media\n"),
			[]string{"line 6: YAML indents with spaces; this line has a tab"}},
		{"port out of range",
			edit(t, `":1935"`, `"127.0.0.1:99999"`),
			[]string{"line 5: listeners[0].address: port 99999 is out of range: use 1..65535"}},
		{"port 0",
			edit(t, `":1935"`, `":0"`),
			[]string{"line 5: listeners[0].address: port 0 would listen on a random port no client knows: use 1..65535"}},
		{"port not a number",
			edit(t, `":1935"`, `":rtmp"`),
			[]string{`line 5: listeners[0].address: port "rtmp" is not a number: use 1..65535`}},
		{"not host:port",
			edit(t, `":1935"`, `"1935"`),
			[]string{`line 5: listeners[0].address: "1935" is not host:port, e.g. ":1935" (every address) or "127.0.0.1:1935"`}},
		{"admin port out of range",
			edit(t, `"127.0.0.1:9935"`, `"127.0.0.1:65536"`),
			[]string{"line 2: admin.address: port 65536 is out of range: use 1..65535"}},
		{"two listeners on one address",
			base + "listeners:\n", // replaced below
			nil},
		{"admin on every address without a token",
			edit(t, `"127.0.0.1:9935"`, `"0.0.0.0:9935"`),
			[]string{`line 2: admin.address: "0.0.0.0:9935" can be reached from other hosts, and admin.token is empty: set a token, or listen on a loopback address such as "127.0.0.1:9935"`}},
		{"admin clashes with a listener",
			edit(t, `"127.0.0.1:9935"`, `"127.0.0.1:1935"`),
			[]string{`line 5: listeners[0].address: ":1935" and admin.address "127.0.0.1:1935" both take port 1935: give each its own port or address`}},
		{"weight out of range",
			edit(t, "weight: 10", "weight: 300"),
			[]string{"line 10: backends[0].servers[0].weight: " + weightRangeMessage(300)}},
		{"negative weight",
			edit(t, "weight: 10", "weight: -1"),
			[]string{"line 10: backends[0].servers[0].weight: " + weightRangeMessage(-1)}},
		{"missing required keys",
			edit(t, "    address: \":1935\"\n    backend: media\n", ""),
			[]string{
				`line 4: listeners[0].address: is required: host:port, e.g. ":1935" (every address) or "127.0.0.1:1935"`,
				"line 4: listeners[0].backend: is required",
			}},
		{"a backend that is not defined",
			edit(t, "    backend: media\n", "    backend: medai\n"),
			[]string{`line 6: listeners[0].backend: names backend "medai", which is not defined`}},
		{"a syntax error, and what can still be known after it",
			edit(t, "    backend: media\n", "    backend: media\n   maxconn: 5\n  - name: b\n    adress: \":1936\"\n    backend: media\n"),
			[]string{
				`line 7: this line's indentation does not match the "- " items of the list above it`,
				"line 9: listeners[1]: unknown key adress (did you mean address?)",
			}},
		{"a quote that is not closed",
			edit(t, "    backend: media\n", "    backend: \"media\n"),
			[]string{"line 6: a quote opened here is not closed: the file ends inside the quoted value"}},
		{"a second document",
			base + "---\nlisteners: []\n",
			[]string{"line 12: a second YAML document starts here (---): the file must hold one"}},
		{"not a map at the top",
			"- listeners\n- backends\n",
			[]string{"line 1: the file must be a map of keys (admin, listeners, backends), not a list"}},
		{"empty file", "", []string{"line 1: the file is empty: it needs listeners and backends"}},
		{"comments only", "# nothing yet\n", []string{"line 1: the file is empty: it needs listeners and backends"}},
		{"not text", "admin: \x00\n", []string{"line 1: control character 0x00: a configuration is plain text"}},
		{"alias bomb",
			"a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\nlisteners: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
			nil}, // checked below: bounded, not exact
	}
	// Three ways of writing one port, each clashing with ":1935".
	clash := base[:strings.Index(base, "backends:")] +
		"  - { name: b, address: \"0.0.0.0:1935\", backend: media }\n" +
		"  - { name: c, address: \"127.0.0.1:1935\", backend: media }\n" +
		"  - { name: d, address: \"127.0.0.2:1936\", backend: media }\n" +
		base[strings.Index(base, "backends:"):]
	for i := range cases {
		if cases[i].name == "two listeners on one address" {
			cases[i].yaml = clash
			cases[i].want = []string{
				`line 7: listeners[1].address: "0.0.0.0:1935" and listeners[0].address ":1935" both take port 1935: give each its own port or address`,
				`line 8: listeners[2].address: "127.0.0.1:1935" and listeners[0].address ":1935" both take port 1935: give each its own port or address`,
			}
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig("edge.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("config accepted:\n%s", tc.yaml)
			}
			got := problemLines(err)
			if tc.want == nil {
				if len(got) == 0 || len(got) > maxProblems {
					t.Fatalf("%d problems, want 1..%d:\n%s", len(got), maxProblems, err)
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// weightRangeMessage is routing's message for a weight outside 0..256 (or
// 1..256 until weight 0 lands there), so the case above follows routing's text.
func weightRangeMessage(w int) string {
	cfg := routing.PoolConfig{Servers: []routing.ServerConfig{{Name: "a", Address: "127.0.0.1:1"}}}
	reflect.ValueOf(&cfg.Servers[0].Weight).Elem().Set(weightValue(w))
	var fe *routing.FieldError
	if err := cfg.Validate(); !errors.As(err, &fe) {
		panic(fmt.Sprintf("routing accepts weight %d", w))
	}
	return fe.Err.Error()
}

func weightValue(w int) reflect.Value {
	t := reflect.TypeFor[routing.ServerConfig]()
	f, _ := t.FieldByName("Weight")
	if f.Type.Kind() == reflect.Pointer {
		return reflect.ValueOf(&w)
	}
	return reflect.ValueOf(w)
}

// Everything wrong with a file comes out in one run, in line order, each
// with its line.
func TestConfigReportsAllErrorsTogether(t *testing.T) {
	const file = `admin:
  address: "0.0.0.0:99999"
listeners:
  - name: rtmp
    address: ":1935"
    backend: media
    handshake_timeout: 2sec
  - name: rtmp
    address: "0.0.0.0:1935"
    backend: nosuch
    protocols: [rtmp, quic]
backends:
  - name: media
    queue_timout: 10s
    balance: fastest
    servers:
      - { name: a, address: "127.0.0.1:1" }
      - { name: a, address: "127.0.0.1:2", maxconn: -1 }
	  - { name: b, address: "127.0.0.1:3" }
`
	_, err := parseConfig("edge.yaml", []byte(file))
	want := []string{
		"line 2: admin.address: port 99999 is out of range: use 1..65535",
		`line 7: listeners[0].handshake_timeout: "2sec" is not a duration: use e.g. 500ms, 2s, 20m`,
		`line 8: listeners[1].name: duplicate listener name "rtmp"`,
		`line 9: listeners[1].address: "0.0.0.0:1935" and listeners[0].address ":1935" both take port 1935: give each its own port or address`,
		`line 10: listeners[1].backend: names backend "nosuch", which is not defined`,
		`line 11: listeners[1].protocols[1]: must be rtmp, rtmpt, rtmps or rtmpts, got "quic"`,
		"line 14: backends[0]: unknown key queue_timout (did you mean queue_timeout?)",
		`line 15: backends[0].balance: must be "roundrobin" or "leastconn", got "fastest"`,
		`line 18: backends[0].servers[1].name: duplicate "a" (also servers[0])`,
		"line 18: backends[0].servers[1].maxconn: must be >= 0 (0 = unlimited), got -1",
		"line 19: YAML indents with spaces; this line has a tab",
	}
	if got := problemLines(err); !slices.Equal(got, want) {
		t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if !strings.HasPrefix(err.Error(), "edge.yaml: 11 errors\n  line 2: ") {
		t.Errorf("the report does not start with its file and count:\n%s", err)
	}
}

// YAML merge keys work as in any YAML tool (an explicit key wins over a
// merged one), and weight 0 is kept as 0, not taken for "omitted".
func TestConfigMergeKeysAndWeightZero(t *testing.T) {
	cfg, err := parseConfig("edge.yaml", []byte(`listeners:
  - { name: rtmp, address: ":1935", backend: media }
backends:
  - name: media
    servers:
      - &s1 { name: media01, address: "127.0.0.1:1936", weight: 10, maxconn: 5 }
      - { <<: *s1, name: media02, weight: 0 }
      - { name: media03, address: "127.0.0.1:1937" }
`))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Backends[0].Servers
	if s[1].Name != "media02" || s[1].Address != "127.0.0.1:1936" || s[1].MaxConn != 5 {
		t.Errorf("merged server: %+v", s[1])
	}
	weight := func(i int) string {
		w := reflect.ValueOf(s[i].Weight)
		if w.Kind() == reflect.Pointer {
			if w.IsNil() {
				return "omitted"
			}
			w = w.Elem()
		}
		return fmt.Sprint(w.Int())
	}
	if got := []string{weight(0), weight(1), weight(2)}; !slices.Equal(got, []string{"10", "0", "omitted"}) {
		t.Errorf("weights %v, want [10 0 omitted]", got)
	}
}

// fakeHost makes the host check answer as a host without the transparent
// set-up (or with it, for why == nil) for one test.
func fakeHost(t *testing.T, why error) {
	t.Helper()
	old := checkTransparent
	checkTransparent = func() error { return why }
	t.Cleanup(func() { checkTransparent = old })
}

func TestConfigChecksTheHostForTransparentSources(t *testing.T) {
	notReady := fmt.Errorf("%w: no policy routing rule for marked replies; set it up with:\n  ip rule add fwmark 1 lookup 100", upstream.ErrTransparentNotReady)
	file := edit(t, "  - name: media\n", "  - name: media\n    source: clientip\n") +
		"  - name: other\n    source: client\n    servers: [{ name: o, address: \"127.0.0.1:1937\" }]\n"
	path := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}

	fakeHost(t, notReady)
	_, err := loadConfig(path)
	want := []string{
		"line 9: backends[0].source: clientip dials media servers from each client's address, and this host is not set up for it: no policy routing rule for marked replies; set it up with:\n      ip rule add fwmark 1 lookup 100",
		"line 13: backends[1].source: client: this host is not set up for it (see backends[0].source)",
	}
	if got := problemLines(err); !slices.Equal(got, want) {
		t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if code := run([]string{"-check", "-config", path}); code != 1 {
		t.Errorf("-check on an unprepared host exited %d, want 1", code)
	}
	// The file alone is fine: -check-host=false (an image build) says so.
	if code := run([]string{"-check", "-check-host=false", "-config", path}); code != 0 {
		t.Errorf("-check -check-host=false exited %d, want 0", code)
	}
	if _, err := parseConfig(path, []byte(file)); err != nil {
		t.Errorf("parseConfig looked at the host: %v", err)
	}

	fakeHost(t, nil)
	if _, err := loadConfig(path); err != nil {
		t.Errorf("a prepared host: %v", err)
	}
}

// A host error with a file error: both, in one report.
func TestConfigHostAndFileErrorsTogether(t *testing.T) {
	fakeHost(t, upstream.ErrTransparentUnsupported)
	file := edit(t, "  - name: media\n", "  - name: media\n    source: clientip\n    retries: -1\n")
	path := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := loadConfig(path)
	want := []string{
		"line 9: backends[0].source: clientip dials media servers from each client's address, and this host is not set up for it: it needs Linux (IP_TRANSPARENT)",
		"line 10: backends[0].retries: must be >= 0, got -1",
	}
	if got := problemLines(err); !slices.Equal(got, want) {
		t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestConfigTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(path, []byte(base+strings.Repeat("# padding\n", maxConfigSize/10+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := loadConfig(path)
	if got := problemLines(err); len(got) != 1 || !strings.HasPrefix(got[0], "line 1: the file is larger than 256 KiB") {
		t.Errorf("got %q", got)
	}
}

func TestCheckFlag(t *testing.T) {
	fakeHost(t, nil)
	if code := run([]string{"-check", "-config", "testdata/seed.yaml"}); code != 0 {
		t.Fatalf("-check on the seed config exited %d", code)
	}
	bad := t.TempDir() + "/bad.yaml"
	if err := os.WriteFile(bad, []byte("listeners: []\nbackends: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"-check", "-config", bad}); code != 1 {
		t.Fatalf("-check on a bad config exited %d, want 1", code)
	}
}

// parseFile is parseConfig on a file of testdata.
func parseFile(t *testing.T, path string) (edge.Config, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseConfig(path, data)
}

// selfDecoding is a config type with a format of its own.
type selfDecoding struct{ v string }

func (s *selfDecoding) UnmarshalYAML(n *yaml.Node) error {
	if n.Value != "ok" {
		return errors.New("must be ok")
	}
	s.v = "decoded " + n.Value
	return nil
}

// A type that implements yaml.Unmarshaler decodes itself (none of today's
// config types does; one added later must not be decoded field by field).
func TestConfigTypesThatDecodeThemselves(t *testing.T) {
	var out struct {
		A selfDecoding `yaml:"a"`
		B selfDecoding `yaml:"b"`
	}
	var r report
	tree := parseYAML([]byte("a: ok\nb: no\n"), &r)
	d := decoder{r: &r, lines: map[string]int{}, budget: maxNodes}
	d.decode(tree, &out)
	if out.A.v != "decoded ok" {
		t.Errorf("a = %q", out.A.v)
	}
	if got := problemLines(r.err("x")); !slices.Equal(got, []string{"line 2: b: must be ok"}) {
		t.Errorf("got %q", got)
	}
}
