package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// Freeze SIGSTOPs the server's process group (master and worker): its sockets
// stay open and the kernel keeps accepting and buffering, but nothing answers,
// never a FIN or RST. That is a hung media server as the edge sees it, which a
// crash (Stop) is not. The server is resumed (SIGCONT) in t.Cleanup, before
// StartNginx's cleanup stops it, so that it can exit on SIGTERM.
func (n *Nginx) Freeze(t testing.TB) {
	t.Helper()
	if n.proc == nil {
		t.Fatalf("freeze nginx %s: not running", n.Opts.Name)
	}
	p := n.proc
	p.Signal(syscall.SIGSTOP)
	t.Cleanup(func() { p.Signal(syscall.SIGCONT) })
}

// Thaw resumes a frozen server (SIGCONT).
func (n *Nginx) Thaw() {
	if n.proc != nil {
		n.proc.Signal(syscall.SIGCONT)
	}
}
