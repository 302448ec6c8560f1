package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The shell scripts are POSIX sh (dash on Debian, the image's /bin/sh) and
// must also stay valid bash; `-n` reads without running.
func TestScriptsParse(t *testing.T) {
	scripts, err := filepath.Glob("*.sh")
	if err != nil {
		t.Fatal(err)
	}
	if len(scripts) < 4 {
		t.Fatalf("want at least transparent-setup.sh, edge-entrypoint.sh, media-route.sh, client.sh; found %v", scripts)
	}
	for _, shell := range []string{"sh", "bash"} {
		bin := needTool(t, shell, "apt-get install -y "+shell)
		for _, s := range scripts {
			t.Run(shell+"/"+s, func(t *testing.T) {
				mustRun(t, ".", nil, bin, "-n", s)
				info, err := os.Stat(s)
				if err != nil {
					t.Fatal(err)
				}
				if info.Mode()&0o111 == 0 {
					t.Errorf("%s is not executable: the images run it directly", s)
				}
			})
		}
	}
}

// -n catches what the scripts could break.
func TestShellRejectsBrokenScripts(t *testing.T) {
	cases := map[string]string{
		"unclosed if":    "if true; then\n  echo x\n",
		"unclosed quote": "echo \"x\n",
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			if r := run(t, ".", nil, "sh", "-n", writeFile(t, "broken.sh", src)); r.err == nil {
				t.Fatalf("sh -n accepted %q", src)
			}
		})
	}
}

// The transparent set-up script refuses what it cannot do, with a message,
// before touching anything (the real runs are in netns_test.go). PATH holds no
// nft or ip here, so even a script that wrongly went on could change nothing.
func TestTransparentSetupRejectsBadInput(t *testing.T) {
	cases := []struct {
		name    string
		env     []string
		args    []string
		wantErr string
	}{
		{"mark zero", []string{"RTMP_EDGE_MARK=0"}, nil, "RTMP_EDGE_MARK=0: want a decimal number"},
		{"mark hex", []string{"RTMP_EDGE_MARK=0x1"}, nil, "RTMP_EDGE_MARK=0x1: want a decimal number"},
		{"mark leading zero", []string{"RTMP_EDGE_MARK=01"}, nil, "RTMP_EDGE_MARK=01: want a decimal number"},
		{"mark too large", []string{"RTMP_EDGE_MARK=4294967296"}, nil, "RTMP_EDGE_MARK=4294967296: want"},
		{"mark huge", []string{"RTMP_EDGE_MARK=99999999999999999999999"}, nil, "want a decimal number"},
		{"table main", []string{"RTMP_EDGE_TABLE=254"}, nil, "RTMP_EDGE_TABLE=254 is a reserved table"},
		{"table local", []string{"RTMP_EDGE_TABLE=255"}, nil, "RTMP_EDGE_TABLE=255 is a reserved table"},
		{"table not a number", []string{"RTMP_EDGE_TABLE=1x"}, nil, "RTMP_EDGE_TABLE=1x: want a decimal number"},
		{"table with spaces", []string{"RTMP_EDGE_TABLE=1 2"}, nil, "want a decimal number"},
		{"ipv6 value", []string{"RTMP_EDGE_IPV6=yes"}, nil, "RTMP_EDGE_IPV6=yes: want auto, 0 or 1"},
		{"forward value", []string{"RTMP_EDGE_FORWARD=2"}, nil, "RTMP_EDGE_FORWARD=2: want 0 or 1"},
		{"unknown flag", nil, []string{"--sideways"}, "unknown argument: --sideways"},
		{"two flags", nil, []string{"--up", "--down"}, "one argument at most"},
		{"no nft", nil, nil, "nft not found: install nftables"},
	}
	sh := needTool(t, "sh", "dash")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := append([]string{"PATH=/nonexistent"}, tc.env...)
			r := run(t, ".", env, sh, append([]string{"transparent-setup.sh"}, tc.args...)...)
			if r.err == nil {
				t.Fatalf("exit 0; stdout:\n%s", r.stdout)
			}
			if !strings.Contains(r.stderr, tc.wantErr) {
				t.Errorf("stderr = %q, want it to say %q", r.stderr, tc.wantErr)
			}
		})
	}
}
