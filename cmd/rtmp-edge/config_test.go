package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestSeedConfigParses(t *testing.T) {
	cfg, err := loadConfig("testdata/seed.yaml")
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

// Every error of a file comes out at once, each with its line.
func TestConfigErrorsCarryLineNumbers(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string // substrings, all required
	}{
		{"unknown key", `
listeners:
  - name: rtmp
    address: ":1935"
    backend: media
    colour: blue
backends:
  - name: media
    servers: [{ name: a, address: "127.0.0.1:1" }]
`, []string{"line 6", "colour"}},
		{"bad duration", `
listeners:
  - { name: rtmp, address: ":1935", backend: media, handshake_timeout: 5 parsecs }
backends:
  - name: media
    servers: [{ name: a, address: "127.0.0.1:1" }]
`, []string{"line 3", "5 parsecs"}},
		{"semantic errors, all of them", `
listeners:
  - name: rtmp
    address: ":1935"
    backend: nosuch
  - name: rtmp
    address: "nonsense"
    protocols: [rtmp, quic]
    backend: media
backends:
  - name: media
    balance: fastest
    servers:
      - { name: a, address: "127.0.0.1:1" }
      - { name: a, address: "127.0.0.1:2" }
`, []string{
			`line 5: listeners[0].backend: names backend "nosuch"`,
			`line 6: listeners[1].name: duplicate listener name "rtmp"`,
			`line 7: listeners[1].address`,
			`line 8: listeners[1].protocols[1]`,
			`line 12: backends[0].balance`,
			`line 15: backends[0].servers[1].name: duplicate "a"`,
		}},
		{"empty file", ``, []string{"empty"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig("edge.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("config accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestCheckFlag(t *testing.T) {
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
