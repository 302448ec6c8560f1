package lab

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dockerCopies returns the COPY instructions of a Dockerfile that copy from the
// build context (not --from=stage), as source → destination.
func dockerCopies(t *testing.T, dockerfile string) map[string]string {
	t.Helper()
	f, err := os.Open(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	copies := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 || !strings.EqualFold(fields[0], "COPY") {
			continue
		}
		copies[fields[1]] = fields[2]
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return copies
}

// The edge container runs the very transparent-setup.sh that integration/'s
// network-namespace lab runs: the Dockerfile copies lab/transparent-setup.sh,
// and the entrypoint calls it where it lands.
func TestEdgeImageRunsTheSharedSetupScript(t *testing.T) {
	copies := dockerCopies(t, "edge.Dockerfile")
	dest, ok := copies["lab/transparent-setup.sh"]
	if !ok {
		t.Fatalf("edge.Dockerfile does not COPY lab/transparent-setup.sh (copies: %v)", copies)
	}
	entry, ok := copies["lab/edge-entrypoint.sh"]
	if !ok {
		t.Fatalf("edge.Dockerfile does not COPY lab/edge-entrypoint.sh (copies: %v)", copies)
	}
	df, err := os.ReadFile("edge.Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(df), `ENTRYPOINT ["`+entry+`"]`) {
		t.Errorf("edge.Dockerfile's ENTRYPOINT is not %s", entry)
	}
	script, err := os.ReadFile("edge-entrypoint.sh")
	if err != nil {
		t.Fatal(err)
	}
	if want := "setup=${RTMP_EDGE_SETUP:-" + dest + "}"; !hasLine(string(script), want) || !hasLine(string(script), `"$setup"`) {
		t.Errorf("edge-entrypoint.sh does not run %s (by default), where edge.Dockerfile puts transparent-setup.sh", dest)
	}
	if !hasLine(string(script), "bin=${RTMP_EDGE_BIN:-/usr/local/bin/rtmp-edge}") ||
		!strings.Contains(string(df), "COPY --from=build /out/rtmp-edge /usr/local/bin/rtmp-edge\n") {
		t.Errorf("edge-entrypoint.sh runs /usr/local/bin/rtmp-edge by default, but edge.Dockerfile does not put it there")
	}
	if _, ok := copies["lab/edge.yaml"]; !ok {
		t.Errorf("edge.Dockerfile does not COPY lab/edge.yaml, the configuration -check validates")
	}
}

// Every file the images copy from the build context exists.
func TestDockerfileSourcesExist(t *testing.T) {
	root := repoRoot(t)
	cases := []struct{ dockerfile, context string }{
		{"edge.Dockerfile", root}, // docker-compose.yml: context ., dockerfile lab/edge.Dockerfile
		{"media.Dockerfile", "."}, // context lab
		{"client.Dockerfile", "."},
	}
	for _, tc := range cases {
		for src := range dockerCopies(t, tc.dockerfile) {
			if strings.HasPrefix(src, "--from=") {
				continue
			}
			if src == "." {
				continue
			}
			if _, err := os.Stat(filepath.Join(tc.context, src)); err != nil {
				t.Errorf("%s copies %s: %v", tc.dockerfile, src, err)
			}
		}
	}
}

// hasLine reports whether a script has line (leading and trailing blanks aside),
// outside comments.
func hasLine(script, line string) bool {
	for _, l := range strings.Split(script, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}
