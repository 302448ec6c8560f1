//go:build linux

package netns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The lab's addresses, all from 198.18.0.0/15.
var (
	// ClientIP is the client namespace's own address.
	ClientIP = netip.MustParseAddr("198.18.1.2")
	// EdgeClientIP is the edge's address towards the client (its listeners).
	EdgeClientIP = netip.MustParseAddr("198.18.1.1")
	// EdgeMediaIP is the edge's address towards the media servers: what they
	// would log if the edge dialed plainly.
	EdgeMediaIP = netip.MustParseAddr("198.18.2.1")
	// MediaIPs are the three media servers' addresses, on one veth.
	MediaIPs = [3]netip.Addr{
		netip.MustParseAddr("198.18.2.2"),
		netip.MustParseAddr("198.18.2.3"),
		netip.MustParseAddr("198.18.2.4"),
	}
	// ClaimedIPs are extra client-namespace addresses that a PROXY front
	// names in its headers (an edge behind an L4 balancer).
	ClaimedIPs = []netip.Addr{
		netip.MustParseAddr("198.18.1.77"),
		netip.MustParseAddr("198.18.1.78"),
		netip.MustParseAddr("198.18.1.79"),
		netip.MustParseAddr("198.18.1.80"),
	}
)

// Transparent-mode policy settings handed to lab/transparent-setup.sh.
const (
	TransparentMark  = "1"
	TransparentTable = "100"
)

// transparentScript is the set-up shared with the docker lab, relative to the repo root.
const transparentScript = "lab/transparent-setup.sh"

// Lab is one client–edge–media topology. Its namespaces are deleted in the
// test's cleanup, which also removes the veths between them.
type Lab struct {
	Client NS
	Edge   NS
	Media  NS
	// Repo is the repository root (holds go.mod and lab/).
	Repo string
}

// NewLab builds the topology for t and runs the transparent set-up in the edge
// namespace. It skips t (loudly) where Preflight says namespaces cannot be
// made, and fails t on any other error.
func NewLab(t testing.TB) *Lab {
	t.Helper()
	if err := Preflight(); err != nil {
		t.Skipf("SKIPPING NETNS LAB — this machine cannot run it: %v", err)
	}
	repo, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	id := newRunID()
	lab := &Lab{
		Client: NS{Name: namespaceName(id, "c")},
		Edge:   NS{Name: namespaceName(id, "e")},
		Media:  NS{Name: namespaceName(id, "m")},
		Repo:   repo,
	}
	for _, ns := range []NS{lab.Client, lab.Edge, lab.Media} {
		if err := runIP("netns", "add", ns.Name); err != nil {
			t.Fatalf("create namespace: %v", err)
		}
		t.Cleanup(func() {
			if err := runIP("netns", "del", ns.Name); err != nil {
				t.Errorf("remove namespace: %v", err)
			}
		})
	}
	if err := lab.wire(); err != nil {
		t.Fatalf("wire lab: %v", err)
	}
	if err := lab.SetUpTransparent(); err != nil {
		t.Fatal(err)
	}
	return lab
}

// ipStep is one `ip -n <ns> ...` command of the wiring.
type ipStep struct {
	ns   NS
	args []string
}

// wire adds the veths, addresses and routes, and turns forwarding off in the
// edge namespace so that no packet crosses it unless a proxy relays it.
func (l *Lab) wire() error {
	steps := []ipStep{
		{l.Client, []string{"link", "set", "lo", "up"}},
		{l.Edge, []string{"link", "set", "lo", "up"}},
		{l.Media, []string{"link", "set", "lo", "up"}},
		// Veths are made inside the namespaces: their names never meet in the host's.
		{l.Client, []string{"link", "add", "toedge", "type", "veth", "peer", "name", "toclient", "netns", l.Edge.Name}},
		{l.Media, []string{"link", "add", "toedge", "type", "veth", "peer", "name", "tomedia", "netns", l.Edge.Name}},
		{l.Client, []string{"addr", "add", ClientIP.String() + "/24", "dev", "toedge"}},
		{l.Edge, []string{"addr", "add", EdgeClientIP.String() + "/24", "dev", "toclient"}},
		{l.Edge, []string{"addr", "add", EdgeMediaIP.String() + "/24", "dev", "tomedia"}},
	}
	// The claimed addresses are real hosts of the client network, as they
	// would be behind an L4 balancer.
	for _, ip := range ClaimedIPs {
		steps = append(steps, ipStep{l.Client, []string{"addr", "add", ip.String() + "/24", "dev", "toedge"}})
	}
	for _, ip := range MediaIPs {
		steps = append(steps, ipStep{l.Media, []string{"addr", "add", ip.String() + "/24", "dev", "toedge"}})
	}
	steps = append(steps,
		ipStep{l.Client, []string{"link", "set", "toedge", "up"}},
		ipStep{l.Edge, []string{"link", "set", "toclient", "up"}},
		ipStep{l.Edge, []string{"link", "set", "tomedia", "up"}},
		ipStep{l.Media, []string{"link", "set", "toedge", "up"}},
		ipStep{l.Client, []string{"route", "add", "default", "via", EdgeClientIP.String()}},
		ipStep{l.Media, []string{"route", "add", "default", "via", EdgeMediaIP.String()}},
	)
	for _, s := range steps {
		if err := s.ns.IP(s.args...); err != nil {
			return err
		}
	}
	return l.ForwardingOff()
}

// ForwardingOff sets net.ipv4.ip_forward=0 in the edge namespace (a new
// namespace starts with 0; this states it, and undoes a script that turned it on).
func (l *Lab) ForwardingOff() error { return l.setForwarding(false) }

// setForwarding writes the edge namespace's net.ipv4.ip_forward (with sh, not
// sysctl: procps may be missing where iproute2 is not).
func (l *Lab) setForwarding(on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	return l.Edge.Run("sh", "-c", "echo "+v+" > /proc/sys/net/ipv4/ip_forward")
}

// SetUpTransparent runs the repository's lab/transparent-setup.sh in the edge
// namespace (the very script the docker lab runs), then turns forwarding back
// off, whatever the script chose, so the edge stays the only path.
func (l *Lab) SetUpTransparent() error {
	if err := l.transparentScript(); err != nil {
		return err
	}
	return l.ForwardingOff()
}

// TearDownTransparent runs the script with --down: transparent dials stop working.
func (l *Lab) TearDownTransparent() error {
	return l.transparentScript("--down")
}

func (l *Lab) transparentScript(args ...string) error {
	script := filepath.Join(l.Repo, transparentScript)
	if _, err := os.Stat(script); err != nil {
		return fmt.Errorf("transparent set-up script: %w (the netns lab must run the docker lab's own script)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := l.Edge.Command(ctx, script, args...)
	cmd.Env = append(os.Environ(), "RTMP_EDGE_MARK="+TransparentMark, "RTMP_EDGE_TABLE="+TransparentTable)
	return runCmd(cmd)
}

// runIDPattern matches the names namespaceName makes: re<pid>-<hex>-<role>.
var runIDPattern = regexp.MustCompile(`^re([0-9]+)-[0-9a-f]{4}-[a-z]$`)

// newRunID names one lab: the pid lets a later run tell a dead run's
// leftovers from a live parallel run's namespaces.
func newRunID() string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("re%d-%s", os.Getpid(), hex.EncodeToString(b[:]))
}

func namespaceName(runID, role string) string { return runID + "-" + role }

// sweepStale deletes lab namespaces whose creating process is gone.
func sweepStale() {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		m := runIDPattern.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
			_ = runIP("netns", "del", e.Name())
		}
	}
}

// repoRoot walks up from the working directory to the directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repo root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir || strings.TrimSpace(parent) == "" {
			return "", errors.New("find repo root: no go.mod above the working directory")
		}
		dir = parent
	}
}
