package lab

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// buildEdge builds cmd/rtmp-edge into a scratch directory.
func buildEdge(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "rtmp-edge")
	mustRun(t, repoRoot(t), nil, goBin, "build", "-o", bin, "./cmd/rtmp-edge")
	return bin
}

func TestEdgeConfigPassesCheck(t *testing.T) {
	bin := buildEdge(t)
	// The file runs in the edge container, whose entrypoint makes the
	// transparent set-up; this host need not have it, so check the file alone.
	mustRun(t, ".", nil, bin, "-check", "-check-host=false", "-config", "edge.yaml")

	// The same check fails on a broken copy: it is not a no-op.
	data, err := os.ReadFile("edge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const line = "\n    source: clientip\n"
	if strings.Count(string(data), line) != 1 {
		t.Fatalf("edge.yaml has no single %q line to break", line)
	}
	broken := strings.Replace(string(data), line, "\n    source: clientipp\n", 1)
	if r := run(t, ".", nil, bin, "-check", "-check-host=false", "-config", writeFile(t, "edge.yaml", broken)); r.err == nil {
		t.Fatalf("rtmp-edge -check accepted source: clientipp:\n%s", r.stdout)
	}
}

// What the lab needs of lab/edge.yaml, decoded loosely (rtmp-edge -check does
// the strict decoding above).
type edgeFile struct {
	Listeners []struct {
		Name      string   `yaml:"name"`
		Address   string   `yaml:"address"`
		Protocols []string `yaml:"protocols"`
		Backend   string   `yaml:"backend"`
	} `yaml:"listeners"`
	Backends []struct {
		Name      string `yaml:"name"`
		Route     string `yaml:"route"`
		Replicate *struct {
			To any `yaml:"to"`
		} `yaml:"replicate"`
		Source  string `yaml:"source"`
		Servers []struct {
			Name         string   `yaml:"name"`
			Address      string   `yaml:"address"`
			Upload       bool     `yaml:"upload"`
			ReplicatesTo []string `yaml:"replicates_to"`
		} `yaml:"servers"`
	} `yaml:"backends"`
}

func TestEdgeConfigMatchesTopology(t *testing.T) {
	topo := loadTopology(t)
	data, err := os.ReadFile("edge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg edgeFile
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("edge.yaml: %v", err)
	}

	listeners := map[string][]string{}
	for _, l := range cfg.Listeners {
		listeners[l.Address] = l.Protocols
		if l.Backend != "media" {
			t.Errorf("listener %s: backend %q, want media", l.Name, l.Backend)
		}
	}
	if got := listeners[":1935"]; !slices.Equal(got, []string{"rtmp"}) {
		t.Errorf("listener :1935 protocols = %v, want [rtmp]", got)
	}
	if got := listeners[":80"]; !sameSet(got, []string{"rtmp", "rtmpt"}) {
		t.Errorf("listener :80 protocols = %v, want [rtmpt rtmp] (Flash falls back to both on port 80)", got)
	}

	if len(cfg.Backends) != 1 {
		t.Fatalf("want one backend, got %d", len(cfg.Backends))
	}
	b := cfg.Backends[0]
	// crtmpserver pushes no upload on by itself (its proxypublish forwards
	// only streams named in its configuration), so the edge publishes each
	// upload to every server; that needs the exact publish, which only
	// routing on the real publish/play knows.
	if b.Route != "command" {
		t.Errorf("backend route = %q, want command (an exact publish to replicate)", b.Route)
	}
	if b.Replicate == nil || b.Replicate.To != "all" {
		t.Errorf("backend replicate = %+v, want { to: all }: media01 and media02 get the uploads from the edge or not at all", b.Replicate)
	}
	if b.Source != "clientip" {
		t.Errorf("backend source = %q, want clientip (transparent mode)", b.Source)
	}
	servers := map[string]netip.AddrPort{}
	for _, s := range b.Servers {
		ap, err := netip.ParseAddrPort(s.Address)
		if err != nil {
			t.Errorf("server %s: address: %v", s.Name, err)
			continue
		}
		servers[s.Name] = ap
		if wantUpload := s.Name == "media03"; s.Upload != wantUpload {
			t.Errorf("server %s: upload = %v; media03, and only media03, takes the uploads", s.Name, s.Upload)
		}
		// replicates_to claims the media server pushes every stream published
		// there to the others; the lab's crtmpserver push nothing.
		if len(s.ReplicatesTo) != 0 {
			t.Errorf("server %s: replicates_to %v, but no lab server pushes (the edge replicates)", s.Name, s.ReplicatesTo)
		}
	}
	for name, addr := range topo.media {
		if want := netip.AddrPortFrom(addr, 1935); servers[name] != want {
			t.Errorf("server %s: address %v, but docker-compose.yml puts it at %v", name, servers[name], want)
		}
	}
	if len(servers) != len(topo.media) {
		t.Errorf("edge.yaml lists %d servers, docker-compose.yml runs %d", len(servers), len(topo.media))
	}
}
