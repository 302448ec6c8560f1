//go:build linux

package lab

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// newNetns creates a network namespace named rtmpedge-lab-<random> and deletes
// it when the test ends, failed or not. Without the privilege to create one
// the test is skipped, loudly: transparent-setup.sh is then not tested at all.
func newNetns(t *testing.T) string {
	t.Helper()
	ipBin := needTool(t, "ip", "apt-get install -y iproute2")
	needTool(t, "nft", "apt-get install -y nftables")
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	ns := "rtmpedge-lab-" + hex.EncodeToString(b[:])
	if out, err := exec.Command(ipBin, "netns", "add", ns).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("SKIPPED: cannot create a network namespace (ip netns add: %v: %s); "+
			"transparent-setup.sh is NOT tested: run the tests as root on Linux", err, strings.TrimSpace(string(out)))
		fmt.Fprintln(os.Stderr, msg)
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(ipBin, "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	return ns
}

// inNetns runs a command inside the namespace.
func inNetns(t *testing.T, ns string, env []string, args ...string) result {
	t.Helper()
	return run(t, ".", env, "ip", append([]string{"netns", "exec", ns}, args...)...)
}

// mustInNetns runs a command inside the namespace that has to succeed.
func mustInNetns(t *testing.T, ns string, env []string, args ...string) string {
	t.Helper()
	return mustRun(t, ".", env, "ip", append([]string{"netns", "exec", ns}, args...)...)
}

// setup runs transparent-setup.sh with sh (dash: POSIX only) inside ns.
func setup(t *testing.T, ns string, env []string, args ...string) result {
	t.Helper()
	return inNetns(t, ns, env, append([]string{"sh", "transparent-setup.sh"}, args...)...)
}

func mustSetup(t *testing.T, ns string, env []string, args ...string) string {
	t.Helper()
	r := setup(t, ns, env, args...)
	if r.err != nil {
		t.Fatalf("transparent-setup.sh %v: %v\nstdout:\n%s\nstderr:\n%s", args, r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// netnsState is what the set-up touches, read back from inside a namespace.
type netnsState struct {
	nftTable         string // `nft list table inet rtmp_edge`, "" when absent
	rules4, rules6   []string
	routes4, routes6 []string // of the table in question
	rpFilter         string   // net.ipv4.conf.all.rp_filter
}

func readState(t *testing.T, ns, mark, table string) netnsState {
	t.Helper()
	lines := func(s string) []string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
		return out
	}
	var st netnsState
	if r := inNetns(t, ns, nil, "nft", "list", "table", "inet", "rtmp_edge"); r.err == nil {
		st.nftTable = r.stdout
	}
	st.rules4 = lines(mustInNetns(t, ns, nil, "ip", "-4", "rule", "list", "fwmark", mark, "table", table))
	st.rules6 = lines(mustInNetns(t, ns, nil, "ip", "-6", "rule", "list", "fwmark", mark, "table", table))
	// ip fails when the table does not exist: no routes.
	st.routes4 = lines(inNetns(t, ns, nil, "ip", "-4", "route", "show", "table", table).stdout)
	st.routes6 = lines(inNetns(t, ns, nil, "ip", "-6", "route", "show", "table", table).stdout)
	st.rpFilter = strings.TrimSpace(mustInNetns(t, ns, nil, "cat", "/proc/sys/net/ipv4/conf/all/rp_filter"))
	return st
}

func setRPFilter(t *testing.T, ns, v string) {
	t.Helper()
	mustInNetns(t, ns, nil, "sh", "-c", "echo "+v+" > /proc/sys/net/ipv4/conf/all/rp_filter")
}

// assertUp checks the whole set-up for a mark and table, IPv6 included or not.
func assertUp(t *testing.T, st netnsState, markHex, table string, ipv6 bool) {
	t.Helper()
	markRule := "meta l4proto tcp socket transparent 1 meta mark set " + markHex + " accept"
	if n := strings.Count(st.nftTable, markRule); n != 1 {
		t.Errorf("nft table inet rtmp_edge has %d × %q, want 1:\n%s", n, markRule, st.nftTable)
	}
	if !strings.Contains(st.nftTable, "type filter hook prerouting priority mangle") {
		t.Errorf("the chain is not a prerouting hook at mangle priority:\n%s", st.nftTable)
	}
	// ip rule prints the mark without leading zeros: 0x00000007 → 0x7.
	wantRule := "fwmark 0x" + strings.TrimLeft(strings.TrimPrefix(markHex, "0x"), "0") + " lookup " + table
	if len(st.rules4) != 1 || !strings.Contains(st.rules4[0], wantRule) {
		t.Errorf("ip -4 rules = %q, want one %q", st.rules4, wantRule)
	}
	if !slicesEqual(st.routes4, []string{"local default dev lo scope host"}) {
		t.Errorf("ip -4 route show table %s = %q, want [local default dev lo scope host]", table, st.routes4)
	}
	if ipv6 {
		if len(st.rules6) != 1 {
			t.Errorf("ip -6 rules = %q, want one", st.rules6)
		}
		if len(st.routes6) != 1 || !strings.HasPrefix(st.routes6[0], "local default dev lo") {
			t.Errorf("ip -6 route show table %s = %q, want local default dev lo", table, st.routes6)
		}
	} else if len(st.rules6)+len(st.routes6) != 0 {
		t.Errorf("IPv6 set up where it should not be: rules %q routes %q", st.rules6, st.routes6)
	}
}

func assertDown(t *testing.T, st netnsState) {
	t.Helper()
	if st.nftTable != "" {
		t.Errorf("table inet rtmp_edge still there:\n%s", st.nftTable)
	}
	if n := len(st.rules4) + len(st.rules6) + len(st.routes4) + len(st.routes6); n != 0 {
		t.Errorf("left behind: rules %q %q, routes %q %q", st.rules4, st.rules6, st.routes4, st.routes6)
	}
}

func TestTransparentSetupUpDown(t *testing.T) {
	ns := newNetns(t)
	mustInNetns(t, ns, nil, "ip", "link", "set", "lo", "up") // IPv6 needs lo up
	setRPFilter(t, ns, "1")

	mustSetup(t, ns, nil)
	mustSetup(t, ns, nil) // idempotent: nothing doubles
	st := readState(t, ns, "1", "100")
	assertUp(t, st, "0x00000001", "100", true)
	if st.rpFilter != "2" {
		t.Errorf("rp_filter = %s after up, want 2 (loose)", st.rpFilter)
	}

	mustSetup(t, ns, nil, "--down")
	st = readState(t, ns, "1", "100")
	assertDown(t, st)
	if st.rpFilter != "1" {
		t.Errorf("rp_filter = %s after down, want 1 restored", st.rpFilter)
	}
	if out := mustSetup(t, ns, nil, "--down"); !strings.Contains(out, "nothing to remove") {
		t.Errorf("second --down said %q, want \"nothing to remove\"", out)
	}
}

// Down removes only what up added: a rule that was there before stays, and
// sysctls that needed no change are not touched.
func TestTransparentSetupKeepsWhatWasThere(t *testing.T) {
	ns := newNetns(t) // lo down: IPv4 only
	mustInNetns(t, ns, nil, "ip", "rule", "add", "fwmark", "1", "lookup", "100")
	setRPFilter(t, ns, "0")

	out := mustSetup(t, ns, nil)
	if !strings.Contains(out, "IPv4 only") {
		t.Errorf("up with lo down said %q, want it to note IPv4 only", out)
	}
	st := readState(t, ns, "1", "100")
	assertUp(t, st, "0x00000001", "100", false)
	if st.rpFilter != "0" {
		t.Errorf("rp_filter = %s, want 0 left alone", st.rpFilter)
	}

	mustSetup(t, ns, nil, "--down")
	st = readState(t, ns, "1", "100")
	if len(st.rules4) != 1 {
		t.Errorf("the rule that was there before up is gone: %q", st.rules4)
	}
	if st.nftTable != "" || len(st.routes4) != 0 {
		t.Errorf("down left its own set-up: table %q routes %q", st.nftTable, st.routes4)
	}
}

// RTMP_EDGE_MARK and RTMP_EDGE_TABLE are obeyed, and down finds them again
// without being told.
func TestTransparentSetupCustomMarkAndTable(t *testing.T) {
	ns := newNetns(t)
	env := []string{"RTMP_EDGE_MARK=7", "RTMP_EDGE_TABLE=107", "RTMP_EDGE_IPV6=0", "RTMP_EDGE_FORWARD=1"}
	mustSetup(t, ns, env)
	st := readState(t, ns, "7", "107")
	assertUp(t, st, "0x00000007", "107", false)
	if got := strings.TrimSpace(mustInNetns(t, ns, nil, "cat", "/proc/sys/net/ipv4/ip_forward")); got != "1" {
		t.Errorf("ip_forward = %s with RTMP_EDGE_FORWARD=1, want 1", got)
	}
	if def := readState(t, ns, "1", "100"); len(def.rules4)+len(def.routes4) != 0 {
		t.Errorf("the default mark/table were set up too: %q %q", def.rules4, def.routes4)
	}

	mustSetup(t, ns, nil, "--down")
	assertDown(t, readState(t, ns, "7", "107"))
	if got := strings.TrimSpace(mustInNetns(t, ns, nil, "cat", "/proc/sys/net/ipv4/ip_forward")); got != "0" {
		t.Errorf("ip_forward = %s after down, want 0 restored", got)
	}
}

// The largest mark and table still fit the state into nft's 128-byte comment.
func TestTransparentSetupLargestMarkAndTable(t *testing.T) {
	ns := newNetns(t)
	mustInNetns(t, ns, nil, "ip", "link", "set", "lo", "up")
	setRPFilter(t, ns, "1")
	env := []string{"RTMP_EDGE_MARK=4294967295", "RTMP_EDGE_TABLE=4294967295", "RTMP_EDGE_FORWARD=1"}
	mustSetup(t, ns, env)
	assertUp(t, readState(t, ns, "0xffffffff", "4294967295"), "0xffffffff", "4294967295", true)
	mustSetup(t, ns, nil, "--down")
	assertDown(t, readState(t, ns, "0xffffffff", "4294967295"))
}

// A table of the same name that the script did not make is left alone.
func TestTransparentSetupLeavesAForeignTable(t *testing.T) {
	ns := newNetns(t)
	mustInNetns(t, ns, nil, "nft", "add", "table", "inet", "rtmp_edge")
	for _, args := range [][]string{nil, {"--down"}} {
		r := setup(t, ns, nil, args...)
		if r.err == nil {
			t.Errorf("transparent-setup.sh %v went ahead over a foreign table:\n%s", args, r.stdout)
		}
		if !strings.Contains(r.stderr, "not made by this script") && !strings.Contains(r.stderr, "no state of this script") {
			t.Errorf("transparent-setup.sh %v: stderr %q does not say why", args, r.stderr)
		}
	}
	st := readState(t, ns, "1", "100")
	if st.nftTable == "" || strings.Contains(st.nftTable, "socket transparent") {
		t.Errorf("the foreign table was changed:\n%s", st.nftTable)
	}
	if len(st.rules4)+len(st.routes4) != 0 {
		t.Errorf("set up despite refusing: rules %q routes %q", st.rules4, st.routes4)
	}
}

// A run that fails half-way takes back what it had added.
func TestTransparentSetupUndoesAFailedRun(t *testing.T) {
	ns := newNetns(t) // lo down, so the IPv6 part cannot be done
	r := setup(t, ns, []string{"RTMP_EDGE_IPV6=1"})
	if r.err == nil {
		t.Fatalf("RTMP_EDGE_IPV6=1 with lo down succeeded:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "IPv6") {
		t.Errorf("stderr = %q, want it to name IPv6", r.stderr)
	}
	assertDown(t, readState(t, ns, "1", "100"))
}

// Without CAP_NET_ADMIN the script stops with a message and changes nothing.
func TestTransparentSetupNeedsPrivileges(t *testing.T) {
	ns := newNetns(t)
	setpriv := needTool(t, "setpriv", "apt-get install -y util-linux")
	r := inNetns(t, ns, nil, setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
		"--inh-caps=-all", "--", "sh", "transparent-setup.sh")
	if r.err == nil {
		t.Fatalf("succeeded as nobody:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "CAP_NET_ADMIN") {
		t.Errorf("stderr = %q, want it to name CAP_NET_ADMIN", r.stderr)
	}
	assertDown(t, readState(t, ns, "1", "100"))
}

func slicesEqual(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}
