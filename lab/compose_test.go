package lab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The parts of `docker-compose config` output the tests look at (the output
// is normalised: merge keys resolved, ports in long form where possible).
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Networks map[string]composeNetwork `yaml:"networks"`
}

type composeService struct {
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	CapAdd      []string          `yaml:"cap_add"`
	CapDrop     []string          `yaml:"cap_drop"`
	Environment map[string]string `yaml:"environment"`
	Networks    map[string]struct {
		IPv4Address string `yaml:"ipv4_address"`
	} `yaml:"networks"`
	Ports    []any             `yaml:"ports"`
	Profiles []string          `yaml:"profiles"`
	Sysctls  map[string]string `yaml:"sysctls"`
	Volumes  []any             `yaml:"volumes"`
}

type composeNetwork struct {
	IPAM struct {
		Config []struct {
			Subnet string `yaml:"subnet"`
		} `yaml:"config"`
	} `yaml:"ipam"`
}

// composeConfig runs Debian's docker-compose (1.29, the Python one) on a
// compose file in dir and returns its normalised output.
func composeConfig(t *testing.T, dir, file string) result {
	t.Helper()
	bin := needTool(t, "docker-compose", "apt-get install -y docker-compose")
	return run(t, dir, nil, bin, "-f", file, "--profile", "client", "config")
}

// loadCompose parses the repository's docker-compose.yml through docker-compose.
func loadCompose(t *testing.T) composeFile {
	t.Helper()
	r := composeConfig(t, repoRoot(t), "docker-compose.yml")
	if r.err != nil {
		t.Fatalf("docker-compose config: %v\n%s", r.err, r.stderr)
	}
	var c composeFile
	if err := yaml.Unmarshal([]byte(r.stdout), &c); err != nil {
		t.Fatalf("decode docker-compose config output: %v\n%s", err, r.stdout)
	}
	return c
}

func TestComposeFileParses(t *testing.T) {
	bin := needTool(t, "docker-compose", "apt-get install -y docker-compose")
	mustRun(t, repoRoot(t), nil, bin, "-f", "docker-compose.yml", "config", "-q")
}

// The check above can fail: docker-compose rejects what the lab could get wrong.
func TestComposeConfigRejectsBrokenFiles(t *testing.T) {
	cases := []struct{ name, file string }{
		{"unknown service key", "services:\n  edge:\n    image: x\n    capabilities: [NET_ADMIN]\n"},
		{"bad yaml", "services:\n  edge:\n   image: x\n  - y\n"},
		{"bad port", "services:\n  edge:\n    image: x\n    ports: [\"abc:def\"]\n"},
		{"bad subnet", "services:\n  edge:\n    image: x\nnetworks:\n  media:\n    ipam:\n      config:\n        - subnet: 198.18.2.0/33\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "docker-compose.yml", tc.file)
			if r := composeConfig(t, filepath.Dir(path), path); r.err == nil {
				t.Fatalf("docker-compose config accepted:\n%s\noutput:\n%s", tc.file, r.stdout)
			}
		})
	}
}

func TestComposeServices(t *testing.T) {
	c := loadCompose(t)
	var names []string
	for name := range c.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	if want := []string{"client", "edge", "media01", "media02", "media03"}; !slices.Equal(names, want) {
		t.Fatalf("services = %v, want %v", names, want)
	}
	for name, s := range c.Services {
		onlyClientProfile := name == "client"
		if got := slices.Equal(s.Profiles, []string{"client"}); got != onlyClientProfile {
			t.Errorf("%s: profiles = %v; only the client runs under the \"client\" profile", name, s.Profiles)
		}
		if !slices.Equal(s.CapDrop, []string{"ALL"}) {
			t.Errorf("%s: cap_drop = %v, want [ALL] (add back only what is needed)", name, s.CapDrop)
		}
	}

	edge := c.Services["edge"]
	if want := []string{"NET_ADMIN", "NET_BIND_SERVICE", "SETGID", "SETUID"}; !sameSet(edge.CapAdd, want) {
		t.Errorf("edge: cap_add = %v, want %v", edge.CapAdd, want)
	}
	if edge.Build == nil || edge.Build.Dockerfile != "lab/edge.Dockerfile" {
		t.Errorf("edge: build = %+v, want dockerfile lab/edge.Dockerfile", edge.Build)
	}
	for _, port := range []int{1935, 80} {
		if !publishes(edge.Ports, port) {
			t.Errorf("edge: port %d is not published on the host (ports %v)", port, edge.Ports)
		}
	}
	// transparent-setup.sh cannot write /proc/sys in a container: compose sets it.
	if got := edge.Sysctls["net.ipv4.conf.all.rp_filter"]; got != "2" {
		t.Errorf("edge: sysctl net.ipv4.conf.all.rp_filter = %q, want 2 (loose)", got)
	}
	for _, name := range []string{"media01", "media02", "media03"} {
		s := c.Services[name]
		if want := []string{"NET_ADMIN", "SETGID", "SETUID"}; !sameSet(s.CapAdd, want) {
			t.Errorf("%s: cap_add = %v, want %v", name, s.CapAdd, want)
		}
		if s.Image != "rtmp-edge-lab/media" {
			t.Errorf("%s: image = %q, want the shared rtmp-edge-lab/media", name, s.Image)
		}
	}
}

// topology is the addresses the compose file gives out, which lab/edge.yaml
// and the crtmpserver configurations must repeat.
type topology struct {
	edgeClients, edgeMedia netip.Addr
	media                  map[string]netip.Addr // media01..03
}

// loadTopology checks the networks and addresses of the compose file and
// returns them.
func loadTopology(t *testing.T) topology {
	t.Helper()
	c := loadCompose(t)
	benchmarking := netip.MustParsePrefix("198.18.0.0/15")
	subnets := map[string]netip.Prefix{}
	for name, n := range c.Networks {
		if len(n.IPAM.Config) != 1 {
			t.Fatalf("network %s: want exactly one fixed subnet, got %+v", name, n.IPAM.Config)
		}
		p, err := netip.ParsePrefix(n.IPAM.Config[0].Subnet)
		if err != nil {
			t.Fatalf("network %s: subnet: %v", name, err)
		}
		if !benchmarking.Contains(p.Addr()) || p.Bits() < benchmarking.Bits() {
			t.Errorf("network %s: subnet %s is outside 198.18.0.0/15", name, p)
		}
		subnets[name] = p
	}
	if len(subnets) != 2 || subnets["clients"].Overlaps(subnets["media"]) {
		t.Fatalf("want two separate networks, clients and media, got %v", subnets)
	}
	addr := func(service, network string) netip.Addr {
		t.Helper()
		n, ok := c.Services[service].Networks[network]
		if !ok {
			t.Fatalf("%s is not on the %s network", service, network)
		}
		a, err := netip.ParseAddr(n.IPv4Address)
		if err != nil {
			t.Fatalf("%s on %s: ipv4_address: %v", service, network, err)
		}
		if !subnets[network].Contains(a) {
			t.Fatalf("%s on %s: %s is outside %s", service, network, a, subnets[network])
		}
		return a
	}
	topo := topology{
		edgeClients: addr("edge", "clients"),
		edgeMedia:   addr("edge", "media"),
		media:       map[string]netip.Addr{},
	}
	for _, name := range []string{"media01", "media02", "media03"} {
		s := c.Services[name]
		if len(s.Networks) != 1 {
			t.Errorf("%s: networks %v; media servers sit on the media network only", name, s.Networks)
		}
		topo.media[name] = addr(name, "media")
		if got := s.Environment["EDGE_ADDR"]; got != topo.edgeMedia.String() {
			t.Errorf("%s: EDGE_ADDR = %q, want the edge's media address %s (its default route)", name, got, topo.edgeMedia)
		}
	}
	// The client reaches the edge on the clients network, and each media server
	// directly on the media network (lab/client.sh plays from every one).
	client := c.Services["client"]
	if len(client.Networks) != 2 {
		t.Errorf("client: networks %v; the client sits on the clients network, and on the media network for its direct plays", client.Networks)
	}
	_ = addr("client", "clients")
	clientMedia := addr("client", "media")
	if client.Environment["EDGE"] != topo.edgeClients.String() {
		t.Errorf("client: EDGE = %q, want the edge's clients address %s", client.Environment["EDGE"], topo.edgeClients)
	}
	var wantMedia []string
	for _, name := range []string{"media01", "media02", "media03"} {
		if topo.media[name] == clientMedia {
			t.Errorf("client and %s share %s", name, clientMedia)
		}
		wantMedia = append(wantMedia, name+"="+topo.media[name].String())
	}
	if got, want := client.Environment["MEDIA"], strings.Join(wantMedia, " "); got != want {
		t.Errorf("client: MEDIA = %q, want %q: it must play from every media server", got, want)
	}
	return topo
}

func TestComposeTopology(t *testing.T) {
	topo := loadTopology(t)
	seen := map[netip.Addr]string{}
	for name, a := range topo.media {
		if other, dup := seen[a]; dup {
			t.Errorf("%s and %s share %s", name, other, a)
		}
		seen[a] = name
	}
}

// Each media server runs the one configuration in lab/crtmpserver/
// (lab/media.Dockerfile copies that folder to /etc/crtmpserver/lab/): media03
// is the upload server by the edge's configuration alone, and no server
// pushes to another.
func TestComposeMediaConfigs(t *testing.T) {
	c := loadCompose(t)
	for _, name := range []string{"media01", "media02", "media03"} {
		const cfg = "/etc/crtmpserver/lab/media.lua"
		cmd := c.Services[name].Command
		if !slices.Equal(cmd, []string{cfg}) {
			t.Errorf("%s: command = %v, want [%s]", name, cmd, cfg)
			continue
		}
		local := filepath.Join("crtmpserver", strings.TrimPrefix(cfg, "/etc/crtmpserver/lab/"))
		if _, err := os.Stat(local); err != nil {
			t.Errorf("%s: %s runs %s, which lab/ does not have: %v", name, name, cfg, err)
		}
	}
}

// The three media servers share one volume for flvplayback's mediaFolder, so a
// play of a file, which the edge balances over all three, finds it on any.
func TestComposeMediaShareFiles(t *testing.T) {
	c := loadCompose(t)
	const folder = mediaFolder
	var source string
	for _, name := range []string{"media01", "media02", "media03"} {
		found := ""
		for _, v := range c.Services[name].Volumes {
			switch v := v.(type) {
			case string: // short form: volume:path[:mode]
				parts := strings.Split(v, ":")
				if len(parts) >= 2 && parts[1] == folder {
					found = parts[0]
				}
			case map[string]any: // long form
				if fmt.Sprint(v["target"]) == folder {
					found = fmt.Sprint(v["source"])
				}
			}
		}
		switch {
		case found == "":
			t.Errorf("%s: no volume at %s (volumes %v)", name, folder, c.Services[name].Volumes)
		case source == "":
			source = found
		case found != source:
			t.Errorf("%s mounts %q at %s, another server %q: they must share one", name, found, folder, source)
		}
	}
	if !slices.Contains(luaFacts(t, "crtmpserver/media.lua"), "mediaFolder flvplayback "+folder) {
		t.Errorf("media.lua: flvplayback's mediaFolder is not %s, the shared volume", folder)
	}
}

// publishes reports whether a ports entry maps host port p to container port p,
// in either the long form ({published, target}) or the short "h:c" string.
func publishes(ports []any, p int) bool {
	for _, e := range ports {
		switch v := e.(type) {
		case map[string]any:
			if fmt.Sprint(v["published"]) == fmt.Sprint(p) && fmt.Sprint(v["target"]) == fmt.Sprint(p) {
				return true
			}
		case string:
			if strings.TrimSuffix(v, "/tcp") == fmt.Sprintf("%d:%d", p, p) {
				return true
			}
		}
	}
	return false
}

func sameSet(got, want []string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}
