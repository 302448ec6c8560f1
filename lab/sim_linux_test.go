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
// in for the three media servers: one nginx per media address, in one
// namespace whose bridge is the media network, none of them pushing anything
// (like the lab's crtmpserver): media01 and media02 get each upload from the
// edge's own replica sessions (replicate: { to: all }) or not at all.
// The checks: client.sh's plays through the edge and from every server pass;
// the edge sent the upload to media03 and published it to media01 and media02
// itself, every one of those sessions from the client's own address (the
// point of transparent mode), and its plays to servers that have the stream;
// and client.sh fails, naming the server, when a server lacks the stream.
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
	// docker-compose.yml's client: its clients address, and its media address
	// for the direct plays.
	const clientAddr, clientMediaAddr = "198.18.1.10", "198.18.2.10"
	// A media server with no stream at all: client.sh must fail on it.
	const emptyAddr = "198.18.2.14"
	clientGW := topo.edgeClients.String()
	cmds := [][]string{
		{"link", "add", "c0", "netns", clientNS, "type", "veth", "peer", "name", "e0", "netns", edgeNS},
		{"link", "add", "m0", "netns", mediaNS, "type", "veth", "peer", "name", "e1", "netns", edgeNS},
		{"link", "add", "c1", "netns", clientNS, "type", "veth", "peer", "name", "m1", "netns", mediaNS},
		// The media network is one segment (docker's bridge): the edge, the
		// client's second address and the media servers.
		{"-n", mediaNS, "link", "add", "br0", "type", "bridge"},
		{"-n", mediaNS, "link", "set", "m0", "master", "br0"},
		{"-n", mediaNS, "link", "set", "m1", "master", "br0"},
		{"-n", clientNS, "addr", "add", clientAddr + "/24", "dev", "c0"},
		{"-n", clientNS, "addr", "add", clientMediaAddr + "/24", "dev", "c1"},
		{"-n", edgeNS, "addr", "add", clientGW + "/24", "dev", "e0"},
		{"-n", edgeNS, "addr", "add", topo.edgeMedia.String() + "/24", "dev", "e1"},
		{"-n", mediaNS, "addr", "add", emptyAddr + "/24", "dev", "br0"},
	}
	for _, name := range []string{"media01", "media02", "media03"} {
		cmds = append(cmds, []string{"-n", mediaNS, "addr", "add", topo.media[name].String() + "/24", "dev", "br0"})
	}
	for _, c := range cmds {
		mustRun(t, ".", nil, "ip", c...)
	}
	for ns, links := range map[string][]string{clientNS: {"lo", "c0", "c1"}, edgeNS: {"lo", "e0", "e1"}, mediaNS: {"lo", "m0", "m1", "br0"}} {
		for _, l := range links {
			mustRun(t, ".", nil, "ip", "-n", ns, "link", "set", l, "up")
		}
	}
	mustRun(t, ".", nil, "ip", "-n", clientNS, "route", "add", "default", "via", clientGW)
	// docker-compose.yml's sysctl for the edge.
	setRPFilter(t, edgeNS, "2")

	// The media side: media-route.sh, then one nginx-rtmp per address.
	out := mustInNetns(t, mediaNS, []string{"EDGE_ADDR=" + topo.edgeMedia.String()}, "sh", "media-route.sh")
	if !strings.Contains(out, "default via "+topo.edgeMedia.String()) {
		t.Fatalf("media-route.sh said %q, want the default route via %s", out, topo.edgeMedia)
	}
	accessLog := map[string]string{}
	startNginx := func(name, addr string) *process {
		d := filepath.Join(dir, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		accessLog[name] = filepath.Join(d, "rtmp-access.log")
		conf := writeFile(t, name+".conf", strings.NewReplacer("DIR", d, "MODULE", rtmpModule, "ADDR", addr).Replace(`
load_module MODULE;
worker_processes 1;
daemon off;
pid DIR/nginx.pid;
error_log DIR/nginx-error.log info;
events { worker_connections 256; }
rtmp {
	access_log DIR/rtmp-access.log;
	server {
		listen ADDR:1935;
		application live { live on; }
	}
}
`))
		return startInNetns(t, mediaNS, nil, nginx, "-c", conf)
	}
	nginxes := map[string]*process{
		topo.media["media01"].String(): startNginx("media01", topo.media["media01"].String()),
		topo.media["media02"].String(): startNginx("media02", topo.media["media02"].String()),
		topo.media["media03"].String(): startNginx("media03", topo.media["media03"].String()),
		emptyAddr:                      startNginx("empty", emptyAddr),
	}
	for addr, p := range nginxes {
		waitListening(t, mediaNS, addr+":1935 ", p)
	}

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

	// The client: publish, play through the edge over rtmp and rtmpt and
	// from each media server (client.sh's default MEDIA is the compose
	// file's, which loadTopology checked). Three attempts per play, so that
	// a server without the stream fails client.sh well within commandTimeout.
	r := inNetns(t, clientNS, []string{"EDGE=" + clientGW, "ATTEMPTS=3"}, "sh", "client.sh")
	if r.err != nil {
		t.Fatalf("client.sh: %v\n%s\n%s\nedge log:\n%s", r.err, r.stdout, r.stderr, edgeOut.String())
	}
	for _, name := range []string{"edge-rtmp", "edge-rtmpt", "media01", "media02", "media03"} {
		if !strings.Contains(r.stdout, "client.sh: "+name+": played ") {
			t.Errorf("client.sh did not play from %s:\n%s", name, r.stdout)
		}
	}

	// nginx logs a session when it ends; the upload ends as client.sh exits.
	logs := map[string]string{}
	for name := range accessLog {
		logs[name] = waitLog(t, accessLog[name], " PUBLISH ", name != "empty")
	}
	// Every server got exactly one publish, from the client's own address:
	// media03 the client's (through the edge), media01 and media02 the edge's
	// replica sessions, which dial like the publisher's own session (no nginx
	// here pushes, so nothing else could have published there).
	count := func(log, kind, from string) (n int) {
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, " "+kind+" ") && strings.HasPrefix(line, from+" ") {
				n++
			}
		}
		return n
	}
	edgePlays := 0
	for _, name := range []string{"media01", "media02", "media03"} {
		if n := strings.Count(logs[name], " PUBLISH "); n != 1 || count(logs[name], "PUBLISH", clientAddr) != 1 {
			t.Errorf("%s: want one publish, from the client %s (through the edge):\n%s", name, clientAddr, logs[name])
		}
		// client.sh's direct play from its media address, and whatever
		// plays the edge sent there, from the client's own address.
		plays, direct, viaEdge := strings.Count(logs[name], " PLAY "), count(logs[name], "PLAY", clientMediaAddr), count(logs[name], "PLAY", clientAddr)
		if direct < 1 || plays != direct+viaEdge {
			t.Errorf("%s: %d plays: %d direct from %s (want at least 1), %d through the edge from %s, and none from elsewhere:\n%s",
				name, plays, direct, clientMediaAddr, viaEdge, clientAddr, logs[name])
		}
		edgePlays += viaEdge
	}
	if edgePlays < 2 {
		t.Errorf("the media servers logged %d plays through the edge, want client.sh's two (rtmp and rtmpt)", edgePlays)
	}
	if !strings.Contains(edgeOut.String(), `"client":"`+clientAddr+`:`) {
		t.Errorf("the edge logged no session of client %s:\n%s", clientAddr, edgeOut.String())
	}

	// A server without the stream fails the check, by name. One attempt: a
	// live play of a stream nginx-rtmp does not have waits until -rw_timeout.
	r = inNetns(t, clientNS, []string{"EDGE=" + clientGW, "MEDIA=media03=" + topo.media["media03"].String() + " empty=" + emptyAddr, "ATTEMPTS=1"}, "sh", "client.sh")
	if r.err == nil {
		t.Fatalf("client.sh passed although %s has no stream:\n%s", emptyAddr, r.stdout)
	}
	if !strings.Contains(r.stderr, "FAILED: no video from: empty") {
		t.Errorf("client.sh failed without naming the server that lacks the stream:\n%s\n%s", r.stdout, r.stderr)
	}
}

// waitLog waits (bounded) until an nginx access log holds want, and returns
// what it holds; a log that need not get there is read once the wait is up.
func waitLog(t *testing.T, path, want string, must bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	if !must {
		ctx, cancel = context.WithTimeout(context.Background(), time.Second)
		defer cancel()
	}
	var data []byte
	for {
		data, _ = os.ReadFile(path)
		if bytes.Contains(data, []byte(want)) {
			return string(data)
		}
		select {
		case <-ctx.Done():
			if must {
				t.Errorf("%s: no %q:\n%s", path, want, data)
			}
			return string(data)
		case <-time.After(100 * time.Millisecond):
		}
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
