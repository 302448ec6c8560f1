//go:build linux

package lab

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLabInNamespaces runs the lab's own files — edge.yaml, edge-entrypoint.sh
// (with transparent-setup.sh and the drop to an unprivileged user),
// media-route.sh and client.sh — with the real rtmp-edge, in network
// namespaces shaped like docker-compose.yml's networks. Docker is not
// available in CI, and crtmpserver is not in Debian 12, so nginx-rtmp stands
// in for the three media servers: one namespace carrying the three media
// addresses. Its access log must name the client's own address for both the
// upload and the plays — the point of the lab.
func TestLabInNamespaces(t *testing.T) {
	needTool(t, "ffmpeg", "apt-get install -y ffmpeg")
	nginx := needTool(t, "nginx", "apt-get install -y nginx libnginx-mod-rtmp")
	const rtmpModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
	if _, err := os.Stat(rtmpModule); err != nil {
		t.Fatalf("nginx's RTMP module is missing (%v): apt-get install -y libnginx-mod-rtmp", err)
	}
	topo := loadTopology(t)
	edgeBin := buildEdge(t)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}

	// The edge runs as nobody: it must be able to reach its binary and config.
	// (t.TempDir's parent is private to root.)
	dir, err := os.MkdirTemp("", "rtmpedge-lab-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "rtmp-edge")
	copyFile(t, edgeBin, bin, 0o755)
	cfg := filepath.Join(dir, "edge.yaml")
	copyFile(t, "edge.yaml", cfg, 0o644)

	clientNS, edgeNS, mediaNS := newNetns(t), newNetns(t), newNetns(t)
	const clientAddr = "198.18.1.10" // docker-compose.yml's client
	clientGW := topo.edgeClients.String()
	for _, c := range [][]string{
		{"link", "add", "c0", "netns", clientNS, "type", "veth", "peer", "name", "e0", "netns", edgeNS},
		{"link", "add", "m0", "netns", mediaNS, "type", "veth", "peer", "name", "e1", "netns", edgeNS},
		{"-n", clientNS, "addr", "add", clientAddr + "/24", "dev", "c0"},
		{"-n", edgeNS, "addr", "add", clientGW + "/24", "dev", "e0"},
		{"-n", edgeNS, "addr", "add", topo.edgeMedia.String() + "/24", "dev", "e1"},
		{"-n", mediaNS, "addr", "add", topo.media["media01"].String() + "/24", "dev", "m0"},
		{"-n", mediaNS, "addr", "add", topo.media["media02"].String() + "/24", "dev", "m0"},
		{"-n", mediaNS, "addr", "add", topo.media["media03"].String() + "/24", "dev", "m0"},
	} {
		mustRun(t, ".", nil, "ip", c...)
	}
	for ns, links := range map[string][]string{clientNS: {"lo", "c0"}, edgeNS: {"lo", "e0", "e1"}, mediaNS: {"lo", "m0"}} {
		for _, l := range links {
			mustRun(t, ".", nil, "ip", "-n", ns, "link", "set", l, "up")
		}
	}
	mustRun(t, ".", nil, "ip", "-n", clientNS, "route", "add", "default", "via", clientGW)
	// docker-compose.yml's sysctl for the edge.
	setRPFilter(t, edgeNS, "2")

	// The media side: media-route.sh, then nginx-rtmp on the three addresses.
	out := mustInNetns(t, mediaNS, []string{"EDGE_ADDR=" + topo.edgeMedia.String()}, "sh", "media-route.sh")
	if !strings.Contains(out, "default via "+topo.edgeMedia.String()) {
		t.Fatalf("media-route.sh said %q, want the default route via %s", out, topo.edgeMedia)
	}
	accessLog := filepath.Join(dir, "rtmp-access.log")
	nginxConf := writeFile(t, "nginx.conf", strings.NewReplacer("DIR", dir, "MODULE", rtmpModule).Replace(`
load_module MODULE;
worker_processes 1;
daemon off;
pid DIR/nginx.pid;
error_log DIR/nginx-error.log info;
events { worker_connections 256; }
rtmp {
	access_log DIR/rtmp-access.log;
	server {
		listen 1935;
		application live { live on; }
	}
}
`))
	startInNetns(t, mediaNS, nil, nginx, "-c", nginxConf)

	// The edge: the container's entrypoint, with local paths and nobody.
	edgeOut := startInNetns(t, edgeNS, []string{
		"RTMP_EDGE_SETUP=" + filepath.Join(wd, "transparent-setup.sh"),
		"RTMP_EDGE_BIN=" + bin,
		"RTMP_EDGE_USER=65534", "RTMP_EDGE_GROUP=65534",
	}, "sh", "edge-entrypoint.sh", "-config", cfg, "-log-format", "json")
	waitListening(t, edgeNS, ":80 ", edgeOut)
	waitListening(t, edgeNS, ":1935 ", edgeOut)
	edgeProc := edgeOut.cmd.Process.Pid // ip netns exec, sh and setpriv all exec: same process
	status, err := os.ReadFile("/proc/" + strconv.Itoa(edgeProc) + "/status")
	if err != nil {
		t.Fatalf("read the edge's status: %v", err)
	}
	for _, want := range []string{"Uid:\t65534\t65534\t65534\t65534", "CapEff:\t0000000000001400", "CapAmb:\t0000000000001400", "NoNewPrivs:\t1"} {
		if !strings.Contains(string(status), want) {
			t.Errorf("the edge process: want %q (uid nobody; only CAP_NET_ADMIN and CAP_NET_BIND_SERVICE) in\n%s", want, status)
		}
	}

	// The client: publish, play over rtmp and rtmpt.
	r := inNetns(t, clientNS, []string{"EDGE=" + clientGW}, "sh", "client.sh")
	if r.err != nil {
		t.Fatalf("client.sh: %v\n%s\n%s\nedge log:\n%s", r.err, r.stdout, r.stderr, edgeOut.String())
	}

	// nginx logs a session when it ends; the upload ends as client.sh exits.
	var log []byte
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	for ctx.Err() == nil {
		if log, err = os.ReadFile(accessLog); err == nil && bytes.Contains(log, []byte(" PUBLISH ")) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	for _, want := range []string{"PUBLISH", "PLAY"} {
		found := false
		for _, line := range strings.Split(string(log), "\n") {
			if strings.Contains(line, " "+want+" ") {
				found = true
				if !strings.HasPrefix(line, clientAddr+" ") {
					t.Errorf("media server logged a %s from someone other than the client %s: %q", want, clientAddr, line)
				}
			}
		}
		if !found {
			t.Errorf("no %s in the media server's access log:\n%s", want, log)
		}
	}
	if !strings.Contains(edgeOut.String(), `"client":"`+clientAddr+`:`) {
		t.Errorf("the edge logged no session of client %s:\n%s", clientAddr, edgeOut.String())
	}
}

// process is a background command whose output is collected.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the command has ended
	mu   sync.Mutex
	buf  bytes.Buffer
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.Write(b)
}

func (p *process) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

// startInNetns starts a long-running command in ns, stopped (SIGTERM, then
// SIGKILL) before the namespaces go: cleanups run last-registered first.
func startInNetns(t *testing.T, ns string, env []string, args ...string) *process {
	t.Helper()
	p := &process{}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", args, err)
	}
	p.done = make(chan struct{})
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitListening waits until something listens on a port in ns (`ss -ltn`).
func waitListening(t *testing.T, ns, port string, p *process) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	for ctx.Err() == nil {
		if strings.Contains(inNetns(t, ns, nil, "ss", "-ltnH").stdout, port) {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("ended before listening on %s in %s; output:\n%s", port, ns, p.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("nothing listens on %s in %s; output:\n%s", port, ns, p.String())
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, mode); err != nil {
		t.Fatal(err)
	}
}
