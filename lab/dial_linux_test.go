//go:build linux

package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The end-to-end proof of transparent-setup.sh: in two namespaces, an "edge"
// and a "media server" whose default route points at the edge, a socket on the
// edge dials the server FROM A CLIENT'S ADDRESS (IP_TRANSPARENT), the way
// rtmp-edge does with source: clientip. The server sees the client's address;
// the dial completes only while the set-up is up. The edge runs with strict
// rp_filter on its interface and ip_forward off: the script's comments say
// neither is needed for this, and this test holds them to it.

// Helper processes: the test binary re-runs itself inside a namespace (with
// `ip netns exec`), and TestMain sends it here instead of to the tests.
const (
	helperEnv  = "RTMP_EDGE_LAB_HELPER" // "listen" or "dial"
	helperAddr = "RTMP_EDGE_LAB_ADDR"   // listen: where; dial: the server
	helperFrom = "RTMP_EDGE_LAB_FROM"   // dial: the client address to present
)

const (
	labServer = "198.18.3.2" // the media server's address
	labEdge   = "198.18.3.1" // the edge, the server's gateway
	labClient = "198.18.4.7" // a client address configured nowhere
	labPort   = "1935"

	dialTimeout = 3 * time.Second // the failing dials wait this long, no more
)

func TestMain(m *testing.M) {
	if role := os.Getenv(helperEnv); role != "" {
		os.Exit(runHelper(role))
	}
	os.Exit(m.Run())
}

func runHelper(role string) int {
	var err error
	switch role {
	case "listen":
		err = helperListen(os.Getenv(helperAddr))
	case "dial":
		err = helperDial(os.Getenv(helperFrom), os.Getenv(helperAddr))
	default:
		err = fmt.Errorf("unknown helper role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

// helperListen accepts connections until killed and writes each one its own
// remote address: what a media server would log.
func helperListen(addr string) error {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	fmt.Println("listening")
	for {
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		_ = c.SetWriteDeadline(time.Now().Add(dialTimeout))
		_, _ = fmt.Fprintf(c, "peer %s\n", c.RemoteAddr())
		_ = c.Close()
	}
}

// helperDial dials server from the foreign address from, as rtmp-edge's
// transparent dialer does, and prints the line the server sends.
func helperDial(from, server string) error {
	var sockErr error
	d := net.Dialer{
		Timeout:   dialTimeout,
		LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)},
		Control: func(_, _ string, rc syscall.RawConn) error {
			if err := rc.Control(func(fd uintptr) {
				sockErr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_TRANSPARENT, 1)
			}); err != nil {
				return err
			}
			if sockErr != nil {
				return fmt.Errorf("setsockopt(IPPROTO_IP, IP_TRANSPARENT, 1): %w", sockErr)
			}
			return nil
		},
	}
	c, err := d.Dial("tcp4", server)
	if err != nil {
		return fmt.Errorf("dial %s from %s: %w", server, from, err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(dialTimeout))
	line, err := bufio.NewReader(io.LimitReader(c, 256)).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read from %s: %w", server, err)
	}
	fmt.Print(line)
	return nil
}

// startListener runs the listen helper in ns and waits until it listens.
func startListener(t *testing.T, ns, addr string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=listen", helperAddr+"="+addr)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the listener: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(io.LimitReader(stdout, 64)).ReadString('\n')
		if err == nil && line != "listening\n" {
			err = fmt.Errorf("said %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("listener in %s: %v; stderr: %s", ns, err, stderr.String())
		}
	case <-time.After(commandTimeout):
		t.Fatalf("listener in %s did not start; stderr: %s", ns, stderr.String())
	}
}

// dialFrom runs the dial helper in ns and returns what the server answered.
func dialFrom(t *testing.T, ns, from, server string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=dial", helperFrom+"="+from, helperAddr+"="+server)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", errors.New(strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

func TestTransparentDialWorksOnlyWithTheSetup(t *testing.T) {
	edgeNS, serverNS := newNetns(t), newNetns(t)
	mustRun(t, ".", nil, "ip", "link", "add", "e0", "netns", edgeNS, "type", "veth", "peer", "name", "s0", "netns", serverNS)
	for _, c := range [][]string{
		{"-n", edgeNS, "link", "set", "lo", "up"},
		{"-n", edgeNS, "link", "set", "e0", "up"},
		{"-n", edgeNS, "addr", "add", labEdge + "/24", "dev", "e0"},
		{"-n", serverNS, "link", "set", "lo", "up"},
		{"-n", serverNS, "link", "set", "s0", "up"},
		{"-n", serverNS, "addr", "add", labServer + "/24", "dev", "s0"},
		// Answers to clients go back through the edge (lab/media-route.sh's job).
		{"-n", serverNS, "route", "add", "default", "via", labEdge},
	} {
		mustRun(t, ".", nil, "ip", c...)
	}
	mustInNetns(t, edgeNS, nil, "sh", "-c",
		"echo 0 > /proc/sys/net/ipv4/ip_forward && echo 1 > /proc/sys/net/ipv4/conf/e0/rp_filter")
	startListener(t, serverNS, net.JoinHostPort(labServer, labPort))
	server := net.JoinHostPort(labServer, labPort)

	// Without the set-up the server's answer to the client address is not
	// delivered to the edge's socket: the dial times out.
	if got, err := dialFrom(t, edgeNS, labClient, server); err == nil {
		t.Fatalf("the transparent dial worked before the set-up (server said %q): the test proves nothing", got)
	}

	mustSetup(t, edgeNS, nil)
	got, err := dialFrom(t, edgeNS, labClient, server)
	if err != nil {
		t.Fatalf("transparent dial with the set-up up: %v", err)
	}
	host, _, _ := net.SplitHostPort(strings.TrimPrefix(got, "peer "))
	if host != labClient {
		t.Fatalf("the server saw %q, want the client's address %s", got, labClient)
	}
	// The edge's own address still dials as usual.
	if got, err := dialFrom(t, edgeNS, labEdge, server); err != nil || !strings.HasPrefix(got, "peer "+labEdge+":") {
		t.Errorf("plain dial from the edge's address: %q, %v", got, err)
	}

	mustSetup(t, edgeNS, nil, "--down")
	if got, err := dialFrom(t, edgeNS, labClient, server); err == nil {
		t.Errorf("the transparent dial still worked after --down (server said %q)", got)
	}
}
