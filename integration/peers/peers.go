// Package peers makes sure the real programs the tests drive (ffmpeg,
// rtmpdump, nginx with the RTMP module, haproxy, nft, ip, …) are installed,
// installing the Debian packages that carry them when they are missing. It is
// what lets one `go test ./...` run on a fresh machine: a missing peer is
// installed, never a reason to skip.
package peers

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// packages maps a command (or file) the tests need to the Debian packages
// that provide it.
var packages = map[string][]string{
	"ffmpeg":   {"ffmpeg"},
	"ffprobe":  {"ffmpeg"},
	"rtmpdump": {"rtmpdump"},
	"nginx":    {"nginx", "libnginx-mod-rtmp"},
	"/usr/lib/nginx/modules/ngx_rtmp_module.so": {"libnginx-mod-rtmp"},
	"haproxy":        {"haproxy"},
	"nft":            {"nftables"},
	"ip":             {"iproute2"},
	"docker-compose": {"docker-compose"},
	"luac5.1":        {"lua5.1"},
	"jq":             {"jq"},
	"ss":             {"iproute2"},
	"chromium":       {"chromium"},
}

// NginxRTMPModule is the module file nginx loads for RTMP.
const NginxRTMPModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

var mu sync.Mutex

// Ensure fails tb unless every named command (or absolute file) is present
// after installing what is missing.
func Ensure(tb testing.TB, names ...string) {
	tb.Helper()
	if err := Install(names...); err != nil {
		tb.Fatalf("peers: %v", err)
	}
}

// Install installs the Debian packages for the missing names.
func Install(names ...string) error {
	mu.Lock()
	defer mu.Unlock()
	missing := missingPackages(names)
	if len(missing) == 0 {
		return nil
	}
	// Test binaries of several packages run at once: one apt at a time.
	lock, err := os.OpenFile("/tmp/rtmp-edge-peers.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	missing = missingPackages(names) // another process may have installed them meanwhile
	if len(missing) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s missing and not root: run `apt-get install -y %s`", strings.Join(names, ", "), strings.Join(missing, " "))
	}
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	run := func(args ...string) error {
		cmd := exec.Command("apt-get", append([]string{"-o", "DPkg::Lock::Timeout=600", "-q"}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, lastLines(out, 15))
		}
		return nil
	}
	if err := run(append([]string{"install", "-y", "--no-install-recommends"}, missing...)...); err != nil {
		// The package lists may be missing or stale on a fresh machine.
		if err := run("update"); err != nil {
			return err
		}
		if err := run(append([]string{"install", "-y", "--no-install-recommends"}, missing...)...); err != nil {
			return err
		}
	}
	if still := missingPackages(names); len(still) > 0 {
		return fmt.Errorf("still missing after apt-get install: %s", strings.Join(still, " "))
	}
	return nil
}

func missingPackages(names []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		if present(n) {
			continue
		}
		pkgs, ok := packages[n]
		if !ok {
			pkgs = []string{n}
		}
		for _, p := range pkgs {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

func present(name string) bool {
	if strings.HasPrefix(name, "/") {
		_, err := os.Stat(name)
		return err == nil
	}
	if _, err := exec.LookPath(name); err == nil {
		return true
	}
	// sbin is not always on a test's PATH.
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if _, err := os.Stat(dir + "/" + name); err == nil {
			return true
		}
	}
	return false
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
