package harness

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/peers"
)

// nginxModule is where Debian's libnginx-mod-rtmp installs the RTMP module.
const nginxModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

// statBodyLimit caps the /stat document read from nginx.
const statBodyLimit = 4 << 20

// NginxOptions describes one nginx-rtmp media server.
type NginxOptions struct {
	Name          string   // for logs and failure reports, e.g. "media01"
	RTMPAddr      string   // "127.0.0.1:port" the RTMP server listens on
	HTTPAddr      string   // "127.0.0.1:port" serving /stat
	Push          []string // URLs that application "live" pushes every published stream to, e.g. "rtmp://127.0.0.1:p/live"
	ProxyProtocol bool     // the RTMP listener requires a PROXY protocol (v1) header
	NetNS         string   // run inside this network namespace (ip netns exec) when not empty
}

// Nginx is a running (or stopped) nginx-rtmp media server bound to a test.
type Nginx struct {
	Opts NginxOptions
	dir  string
	conf string
	t    testing.TB
	bin  string // nginx executable (often in /usr/sbin, not always on PATH)
	proc *Proc
}

// StartNginx writes a configuration for o into a temporary prefix directory and
// starts nginx in the foreground; it returns once the RTMP and HTTP ports accept.
// nginx runs with one worker so that /stat shows every client.
func StartNginx(t testing.TB, o NginxOptions) *Nginx {
	t.Helper()
	nginxBin := RequireTool(t, "nginx")
	peers.Ensure(t, nginxModule)
	if _, err := os.Stat(nginxModule); err != nil {
		t.Fatalf("REQUIRED MODULE MISSING: %s (apt-get install -y libnginx-mod-rtmp): %v", nginxModule, err)
	}
	if o.Name == "" {
		o.Name = "nginx"
	}
	n := &Nginx{Opts: o, dir: t.TempDir(), t: t, bin: nginxBin}
	n.conf = filepath.Join(n.dir, "nginx.conf")
	if err := os.WriteFile(n.conf, []byte(nginxConfig(n.dir, o)), 0o644); err != nil {
		t.Fatalf("write nginx config for %s: %v", o.Name, err)
	}
	n.Start()
	t.Cleanup(func() {
		if n.proc != nil {
			n.proc.Stop()
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(n.dir, "error.log")); err == nil {
				t.Logf("--- error.log of %s (last 8 KiB):\n%s", o.Name, lastBytes(b, 8<<10))
			}
		}
	})
	return n
}

// nginxConfig renders the configuration of one media server.
func nginxConfig(dir string, o NginxOptions) string {
	var push strings.Builder
	for _, u := range o.Push {
		fmt.Fprintf(&push, "            push %s;\n", u)
	}
	listen := o.RTMPAddr
	if o.ProxyProtocol {
		listen += " proxy_protocol"
	}
	return fmt.Sprintf(`load_module %[1]s;
user root;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 1024; }
rtmp {
    server {
        listen %[3]s;
        chunk_size 4096;
        application live {
            live on;
%[4]s        }
    }
}
http {
    access_log off;
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    server {
        listen %[5]s;
        location /stat { rtmp_stat all; }
    }
}
`, nginxModule, dir, listen, push.String(), o.HTTPAddr)
}

// Start (re)starts the server with its configuration and waits until both ports
// accept. It fails the test if nginx exits or does not come up within 10 s.
func (n *Nginx) Start() {
	n.t.Helper()
	argv := []string{n.bin, "-p", n.dir, "-e", filepath.Join(n.dir, "error.log"), "-c", n.conf, "-g", "daemon off;"}
	if n.Opts.NetNS != "" {
		argv = append([]string{"ip", "netns", "exec", n.Opts.NetNS}, argv...)
	}
	p, err := startProc(n.Opts.Name, nil, argv...)
	if err != nil {
		n.t.Fatalf("start nginx %s: %v", n.Opts.Name, err)
	}
	n.proc = p
	if n.Opts.NetNS != "" {
		// Its ports are not reachable from this namespace; the caller checks readiness.
		return
	}
	for _, addr := range []string{n.Opts.RTMPAddr, n.Opts.HTTPAddr} {
		if err := waitAccept(p, addr, 10*time.Second); err != nil {
			n.t.Fatalf("nginx %s: %v; output:\n%s", n.Opts.Name, err, p.Output())
		}
	}
}

// Stop kills the server (SIGKILL to its process group: a crash, as the edge sees
// it) and waits for it to end.
func (n *Nginx) Stop() {
	n.t.Helper()
	if n.proc == nil {
		return
	}
	if err := n.proc.Kill(); err != nil && !strings.Contains(err.Error(), "signal: killed") {
		n.t.Logf("stop nginx %s: %v", n.Opts.Name, err)
	}
	n.proc = nil
}

// Stat is nginx-rtmp's /stat, reduced to what the tests check.
type Stat struct {
	Streams map[string]*StreamStat // by stream name, application "live" (and others) merged
}

// StreamStat lists the clients of one stream. A push relay that nginx runs to
// another server is listed in Relays, not among the players.
type StreamStat struct {
	Name       string
	Publishers []StatClient
	Players    []StatClient
	Relays     []StatClient
}

// relayFlashVer is the flashver nginx-rtmp shows for its own outgoing relays
// (their address is the target URL, e.g. "127.0.0.1:1935/live").
const relayFlashVer = "ngx-local-relay"

// StatClient is one client as nginx saw it; Address is the peer IP nginx logged
// (the edge's, the real client's in transparent mode, or the PROXY header's).
type StatClient struct {
	ID       string
	Address  string
	FlashVer string
}

// Stream returns the named stream, or an empty one.
func (s *Stat) Stream(name string) *StreamStat {
	if st, ok := s.Streams[name]; ok {
		return st
	}
	return &StreamStat{Name: name}
}

// Stat fetches and parses /stat; it fails the test on any error.
func (n *Nginx) Stat(t testing.TB) *Stat {
	t.Helper()
	s, err := n.FetchStat(context.Background())
	if err != nil {
		t.Fatalf("stat of %s: %v", n.Opts.Name, err)
	}
	return s
}

// FetchStat fetches and parses /stat (5 s bound), for callers that poll.
func (n *Nginx) FetchStat(ctx context.Context) (*Stat, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.Opts.HTTPAddr+"/stat", nil)
	if err != nil {
		return nil, fmt.Errorf("build /stat request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get /stat of %s: %w", n.Opts.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get /stat of %s: status %s", n.Opts.Name, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, statBodyLimit))
	if err != nil {
		return nil, fmt.Errorf("read /stat of %s: %w", n.Opts.Name, err)
	}
	return ParseStat(body)
}

// statXML mirrors the parts of nginx-rtmp's /stat document that matter here.
type statXML struct {
	Servers []struct {
		Applications []struct {
			Name    string `xml:"name"`
			Streams []struct {
				Name    string `xml:"name"`
				Clients []struct {
					ID         string    `xml:"id"`
					Address    string    `xml:"address"`
					FlashVer   string    `xml:"flashver"`
					Publishing *struct{} `xml:"publishing"`
				} `xml:"client"`
			} `xml:"live>stream"`
		} `xml:"application"`
	} `xml:"server"`
}

// ParseStat parses nginx-rtmp's /stat XML.
func ParseStat(doc []byte) (*Stat, error) {
	var x statXML
	if err := xml.Unmarshal(doc, &x); err != nil {
		return nil, fmt.Errorf("parse /stat xml: %w", err)
	}
	s := &Stat{Streams: map[string]*StreamStat{}}
	for _, srv := range x.Servers {
		for _, app := range srv.Applications {
			for _, st := range app.Streams {
				out := s.Streams[st.Name]
				if out == nil {
					out = &StreamStat{Name: st.Name}
					s.Streams[st.Name] = out
				}
				for _, c := range st.Clients {
					sc := StatClient{ID: c.ID, Address: c.Address, FlashVer: c.FlashVer}
					switch {
					case c.Publishing != nil:
						out.Publishers = append(out.Publishers, sc)
					case c.FlashVer == relayFlashVer:
						out.Relays = append(out.Relays, sc)
					default:
						out.Players = append(out.Players, sc)
					}
				}
			}
		}
	}
	return s, nil
}

// WaitStat polls /stat every 200 ms until ok returns true, up to timeout; it fails
// the test with the last document's summary otherwise.
func (n *Nginx) WaitStat(t testing.TB, what string, ok func(*Stat) bool, timeout time.Duration) *Stat {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *Stat
	var lastErr error
	for {
		s, err := n.FetchStat(context.Background())
		if err == nil {
			last = s
			if ok(s) {
				return s
			}
		} else {
			lastErr = err
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /stat of %s did not show %s within %s; last: %s (last error: %v)", t.Name(), n.Opts.Name, what, timeout, last, lastErr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// String summarises the stat for failure messages.
func (s *Stat) String() string {
	if s == nil {
		return "<no stat>"
	}
	var b strings.Builder
	for name, st := range s.Streams {
		fmt.Fprintf(&b, "[%s: %d publishers %v, %d players %v] ", name, len(st.Publishers), st.Publishers, len(st.Players), st.Players)
	}
	if b.Len() == 0 {
		return "<no streams>"
	}
	return b.String()
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
