package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// replicateBase is a valid file with a replicate key; the cases below change
// one line of it, and their line numbers are this file's.
const replicateBase = `listeners:
  - name: rtmp
    address: ":1935"
    backend: media
backends:
  - name: media
    route: command
    replicate: { to: all, buffer: 4MiB, max_lag: 5s }
    servers:
      - { name: media01, address: "127.0.0.1:1936" }
      - { name: media02, address: "127.0.0.1:1937" }
      - { name: media03, address: "127.0.0.1:1938", upload: true }
`

func TestReplicateConfig(t *testing.T) {
	cfg, err := parseConfig("edge.yaml", []byte(replicateBase))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Backends[0].Replicate
	if r == nil || !r.To.All() || r.Buffer != 4<<20 || r.MaxLag != 5*time.Second {
		t.Fatalf("decoded %+v", r)
	}
	named := strings.Replace(replicateBase, "to: all, buffer: 4MiB, max_lag: 5s", "to: [media01, media02], buffer: 524288", 1)
	cfg, err = parseConfig("edge.yaml", []byte(named))
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Backends[0].Replicate; r.To.All() || !slices.Equal(r.To.Names(), []string{"media01", "media02"}) || r.Buffer != 512<<10 || r.MaxLag != 0 {
		t.Fatalf("decoded %+v", r)
	}
	// route: command is the default: a backend without the key may replicate.
	if _, err := parseConfig("edge.yaml", []byte(strings.Replace(replicateBase, "    route: command\n", "", 1))); err != nil {
		t.Fatalf("without route (the default, command): %v", err)
	}
	off := strings.Replace(replicateBase, "    replicate: { to: all, buffer: 4MiB, max_lag: 5s }\n", "", 1)
	if cfg, err := parseConfig("edge.yaml", []byte(off)); err != nil || cfg.Backends[0].Replicate != nil {
		t.Fatalf("without the key: %v, %+v", err, cfg.Backends[0].Replicate)
	}
}

// Each mistake with the key, with the exact line -check prints.
func TestReplicateConfigErrors(t *testing.T) {
	line := "    replicate: { to: all, buffer: 4MiB, max_lag: 5s }\n"
	with := func(old, new string) string {
		if strings.Count(replicateBase, old) != 1 {
			t.Fatalf("no single %q", old)
		}
		return strings.Replace(replicateBase, old, new, 1)
	}
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"route connect", with("    route: command\n", "    route: connect\n"),
			[]string{"line 8: backends[0].replicate: needs route: command: the edge replicates the exact publish, which it knows before routing only in that mode (this backend routes at connect)"}},
		{"unknown server", with(line, "    replicate:\n      to: [media01, media09]\n"),
			[]string{`line 9: backends[0].replicate.to[1]: names server "media09", which is not in this backend`}},
		{"server twice", with(line, "    replicate: { to: [media01, media01] }\n"),
			[]string{`line 8: backends[0].replicate.to[1]: names server "media01" twice`}},
		{"to missing", with(line, "    replicate: { buffer: 4MiB }\n"),
			[]string{"line 8: backends[0].replicate.to: is required: all, or a list of the backend's server names"}},
		{"to empty", with(line, "    replicate: { to: [] }\n"),
			[]string{"line 8: backends[0].replicate.to: lists no server: name at least one, or say all"}},
		{"to a word", with(line, "    replicate: { to: every }\n"),
			[]string{`line 8: backends[0].replicate.to: must be all or a list of server names such as [media01, media02], got "every"`}},
		{"buffer not a size", with(line, "    replicate: { to: all, buffer: 4MB }\n"),
			[]string{`line 8: backends[0].replicate.buffer: "4MB" is not a size: use a whole number of bytes or e.g. 512KiB, 4MiB, 1GiB`}},
		{"buffer too small", with(line, "    replicate: { to: all, buffer: 64KiB }\n"),
			[]string{"line 8: backends[0].replicate.buffer: must be between 256KiB and 1GiB, got 65536 bytes"}},
		{"max_lag negative", with(line, "    replicate: { to: all, max_lag: -1s }\n"),
			[]string{"line 8: backends[0].replicate.max_lag: must not be negative, got -1s"}},
		{"unknown key", with(line, "    replicate: { to: all, max_lagg: 5s }\n"),
			nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig("edge.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("config accepted:\n%s", tc.yaml)
			}
			got := problemLines(err)
			if tc.want == nil {
				if len(got) != 1 || !strings.Contains(got[0], "max_lagg") {
					t.Fatalf("got %q", got)
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}
