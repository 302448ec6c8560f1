//go:build linux

package netns

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDoSwitchesAndRestores checks sockets made inside Do live in the lab's
// namespace and that the calling code stays in its own.
func TestDoSwitchesAndRestores(t *testing.T) {
	lab := NewLab(t)
	inside := hostPort(ClientIP, 0)
	ln, err := ListenIn(lab.Client, inside)
	if err != nil {
		t.Fatalf("listen on the client's address inside its namespace: %v", err)
	}
	_ = ln.Close()
	for range 3 { // again and again: no thread may be left behind in the lab
		if ln, err := net.Listen("tcp", inside); err == nil {
			_ = ln.Close()
			t.Fatalf("listened on %s outside Do: this goroutine's thread is still in the lab namespace", inside)
		}
	}
	err = lab.Client.Do(func() error { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Do with a panicking func returned %v, want the panic as an error", err)
	}
	sentinel := errors.New("from f")
	if err := lab.Edge.Do(func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Fatalf("Do returned %v, want f's error", err)
	}
	if err := (NS{Name: "re0-0000-x-missing"}).Do(func() error { return nil }); err == nil {
		t.Fatal("Do in a namespace that does not exist succeeded")
	}
}

// TestLabCleanupAndStaleSweep checks a lab's namespaces are gone after its
// test, and that a dead run's leftovers are swept while a live run's are kept.
func TestLabCleanupAndStaleSweep(t *testing.T) {
	if err := Preflight(); err != nil {
		t.Skipf("SKIPPING NETNS LAB — this machine cannot run it: %v", err)
	}
	var names []string
	t.Run("lab", func(t *testing.T) {
		lab := NewLab(t)
		names = []string{lab.Client.Name, lab.Edge.Name, lab.Media.Name}
		for _, n := range names {
			if _, err := os.Stat(filepath.Join(netnsDir, n)); err != nil {
				t.Fatalf("namespace %s missing while the lab runs: %v", n, err)
			}
		}
	})
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(netnsDir, n)); !os.IsNotExist(err) {
			t.Errorf("namespace %s still there after its test (stat: %v)", n, err)
		}
	}

	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := namespaceName("re"+strconv.Itoa(dead.Process.Pid)+"-beef", "c")
	live := namespaceName("re"+strconv.Itoa(os.Getppid())+"-beef", "c")
	for _, n := range []string{stale, live} {
		if err := runIP("netns", "add", n); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = runIP("netns", "del", n) })
	}
	sweepStale()
	if _, err := os.Stat(filepath.Join(netnsDir, stale)); !os.IsNotExist(err) {
		t.Errorf("stale namespace %s of dead pid %d not swept (stat: %v)", stale, dead.Process.Pid, err)
	}
	if _, err := os.Stat(filepath.Join(netnsDir, live)); err != nil {
		t.Errorf("namespace %s of a live process was swept: %v", live, err)
	}
}
