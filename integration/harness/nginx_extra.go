package harness

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rtmp-edge/rtmp-edge/integration/peers"
)

// accessLogFormat is the per-connection line StartNginxExtra's servers write
// when a client disconnects: nginx-rtmp's $bytes_received and $bytes_sent
// are what the peer sent and what nginx sent after the RTMP handshake
// (measured: a session's counts through the edge match them exactly).
// $flashver is cut to 31 characters.
const accessLogFormat = `$flashver|$command|$app|$name|$bytes_received|$bytes_sent`

// NginxExtra adds configuration to a media server started by StartNginxExtra.
type NginxExtra struct {
	// Server is inserted into the rtmp `server { ... }` block, e.g.
	// "on_connect http://127.0.0.1:8000/connect;" (nginx-rtmp allows
	// on_connect in rtmp and server blocks only).
	Server string
	// App is inserted into `application live { ... }`, e.g. "on_play URL;".
	App string
	// AccessLog makes the server log one line per RTMP connection at its end
	// (see AccessLog).
	AccessLog bool
}

// StartNginxExtra is StartNginx with directives of its own: the same
// configuration, the extra lines added, and the same lifetime (stopped in
// t.Cleanup, error log printed when the test failed).
func StartNginxExtra(t testing.TB, o NginxOptions, x NginxExtra) *Nginx {
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
	conf := nginxConfig(n.dir, o)
	if x.Server != "" {
		conf = strings.Replace(conf, "        chunk_size 4096;\n", "        chunk_size 4096;\n        "+x.Server+"\n", 1)
	}
	if x.App != "" {
		conf = strings.Replace(conf, "            live on;\n", "            live on;\n            "+x.App+"\n", 1)
	}
	if x.AccessLog {
		conf = strings.Replace(conf, "rtmp {\n", fmt.Sprintf("rtmp {\n    log_format bytes '%s';\n    access_log %s bytes;\n",
			accessLogFormat, filepath.Join(n.dir, "rtmp-access.log")), 1)
	}
	if err := os.WriteFile(n.conf, []byte(conf), 0o644); err != nil {
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

// AccessEntry is one connection as nginx-rtmp's access log saw it at its end.
type AccessEntry struct {
	FlashVer      string
	Command       string // "PUBLISH", "PLAY", "" (nothing but connect), ...
	App, Name     string
	BytesReceived int64 // what the peer sent after the handshake
	BytesSent     int64 // what nginx sent after the handshake
}

// AccessLog reads the access log of a server started with
// NginxExtra.AccessLog: one entry per connection that has ended.
func (n *Nginx) AccessLog() ([]AccessEntry, error) {
	f, err := os.Open(filepath.Join(n.dir, "rtmp-access.log"))
	if os.IsNotExist(err) {
		return nil, nil // nothing has ended yet
	}
	if err != nil {
		return nil, fmt.Errorf("access log of %s: %w", n.Opts.Name, err)
	}
	defer f.Close()
	var out []AccessEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		if len(f) != 6 {
			return nil, fmt.Errorf("access log of %s: bad line %q", n.Opts.Name, sc.Text())
		}
		in, err1 := strconv.ParseInt(f[4], 10, 64)
		sent, err2 := strconv.ParseInt(f[5], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("access log of %s: bad byte counts in %q", n.Opts.Name, sc.Text())
		}
		out = append(out, AccessEntry{FlashVer: f[0], Command: f[1], App: f[2], Name: f[3], BytesReceived: in, BytesSent: sent})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("access log of %s: %w", n.Opts.Name, err)
	}
	return out, nil
}

// ErrorLog returns the server's error log (info level: nginx-rtmp writes why
// it dropped a connection there).
func (n *Nginx) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
	return string(b)
}
