//go:build linux

package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
	"github.com/rtmp-edge/rtmp-edge/integration/peers"
)

// Media server ports, the same on each of the three addresses.
const (
	MediaRTMPPort  = 1935 // plain RTMP
	MediaProxyPort = 1936 // RTMP after a PROXY v1 header (nginx-rtmp `listen … proxy_protocol`)
	MediaStatPort  = 8080 // HTTP /stat
)

// mediaStartTimeout bounds the wait for a media server to answer /stat.
const mediaStartTimeout = 15 * time.Second

// maxLogTail caps how much of a log a failure message quotes.
const maxLogTail = 8 << 10

// Media is one nginx-rtmp server in the media namespace.
type Media struct {
	Name string
	IP   netip.Addr
	Proc *harness.Proc
	dir  string
	stat *http.Client
}

// RTMPAddr is the plain RTMP listener, "198.18.2.x:1935".
func (m *Media) RTMPAddr() string { return hostPort(m.IP, MediaRTMPPort) }

// ProxyAddr is the PROXY-protocol RTMP listener, "198.18.2.x:1936".
func (m *Media) ProxyAddr() string { return hostPort(m.IP, MediaProxyPort) }

// Stat is the server's /stat, fetched from inside the media namespace.
func (m *Media) Stat(ctx context.Context) (*harness.Stat, error) {
	stat, err := FetchStat(ctx, m.stat, hostPort(m.IP, MediaStatPort))
	if err != nil {
		if exited, exitErr := m.Proc.Exited(); exited {
			return nil, fmt.Errorf("%w (%w: %s: %v); error.log:\n%s", err, ErrExited, m.Name, exitErr, m.ErrorLog())
		}
	}
	return stat, err
}

// ErrorLog is the tail of the server's error.log.
func (m *Media) ErrorLog() string {
	b, err := os.ReadFile(filepath.Join(m.dir, "error.log"))
	if err != nil {
		return fmt.Sprintf("(unreadable: %v)", err)
	}
	if len(b) > maxLogTail {
		b = b[len(b)-maxLogTail:]
	}
	return string(b)
}

// StartMedia starts media01..03 on MediaIPs in l.Media, media03 being the
// upload server that pushes every published stream to the other two (the
// seed set-up's "synchronised to media01 and media02"), and waits until each
// answers /stat.
func StartMedia(t testing.TB, l *Lab) []*Media {
	t.Helper()
	peers.Ensure(t, "nginx", peers.NginxRTMPModule)
	statClient := NSHTTPClient(l.Media)
	var servers []*Media
	for i, ip := range MediaIPs {
		name := fmt.Sprintf("media%02d", i+1)
		var push []string
		if i == len(MediaIPs)-1 {
			for _, other := range MediaIPs[:i] {
				push = append(push, "rtmp://"+hostPort(other, MediaRTMPPort)+"/live")
			}
		}
		dir := filepath.Join(t.TempDir(), name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		conf := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(conf, []byte(nginxConf(dir, ip, push)), 0o644); err != nil {
			t.Fatal(err)
		}
		m := &Media{Name: name, IP: ip, dir: dir, stat: statClient}
		m.Proc = harness.StartProc(t, name, l.Media.Argv("nginx", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))...)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("--- error.log of %s:\n%s", m.Name, m.ErrorLog())
			}
		})
		servers = append(servers, m)
	}
	for _, m := range servers {
		if err := waitFor(mediaStartTimeout, func() error { _, err := m.Stat(context.Background()); return err }); err != nil {
			t.Fatalf("%s did not come up: %v", m.Name, err)
		}
	}
	return servers
}

// nginxConf is one media server: one process (so /stat sees every client),
// RTMP on 1935 and 1936 (PROXY v1), /stat on 8080, all on its own address.
func nginxConf(dir string, ip netip.Addr, push []string) string {
	var pushLines strings.Builder
	for _, url := range push {
		fmt.Fprintf(&pushLines, "      push %s;\n", url)
	}
	return fmt.Sprintf(`load_module %[1]s;
daemon off;
master_process off;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 256; }
rtmp {
  server {
    listen %[3]s:%[4]d;
    listen %[3]s:%[5]d proxy_protocol;
    application live {
      live on;
%[7]s    }
  }
}
http {
  access_log off;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  server {
    listen %[3]s:%[6]d;
    location /stat { rtmp_stat all; }
  }
}
`, peers.NginxRTMPModule, dir, ip, MediaRTMPPort, MediaProxyPort, MediaStatPort, pushLines.String())
}

// NSHTTPClient is an HTTP client whose connections are made inside ns.
func NSHTTPClient(ns NS) *http.Client {
	return &http.Client{
		Timeout: statTimeout,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				return DialIn(ctx, ns, nil, addr)
			},
		},
	}
}

func hostPort(ip netip.Addr, port uint16) string {
	return netip.AddrPortFrom(ip, port).String()
}

// errWaitTimeout wraps the last error of a wait that ran out of time.
var errWaitTimeout = errors.New("netns: gave up waiting")

// waitFor polls cond until it returns nil or timeout passes.
func waitFor(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %s: %w", errWaitTimeout, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
