//go:build linux

package netns

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
)

// backend accepts one connection on loopback and hands it over.
func backend(t *testing.T) (net.Listener, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	conns := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(conns)
			return
		}
		conns <- c
	}()
	return ln, conns
}

func startTestForwarder(t *testing.T, dial DialFunc) *Forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := NewForwarder(ln, dial)
	t.Cleanup(func() { _ = f.Close() })
	return f
}

func accept(t *testing.T, conns <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c, ok := <-conns:
		if !ok {
			t.Fatal("backend accept failed")
		}
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("forwarder did not connect to the backend")
		return nil
	}
}

// TestForwarderProxyHeader checks the front writes exactly one PROXY header
// naming the claimed address and the client's port, then relays both ways.
func TestForwarderProxyHeader(t *testing.T) {
	claimed := netip.MustParseAddr("198.18.1.77")
	for _, version := range []byte{1, 2} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			ln, conns := backend(t)
			f := startTestForwarder(t, ProxyTo(nil, ln.Addr().String(), version, claimed))
			client, err := net.DialTimeout("tcp", f.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			_ = client.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := client.Write([]byte("\x03hello")); err != nil {
				t.Fatal(err)
			}
			server := accept(t, conns)
			br := bufio.NewReader(server)
			if version == 1 {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				want := fmt.Sprintf("PROXY TCP4 198.18.1.77 127.0.0.1 %d %d\r\n",
					client.LocalAddr().(*net.TCPAddr).Port, ln.Addr().(*net.TCPAddr).Port)
				if line != want {
					t.Fatalf("header %q, want %q", line, want)
				}
			} else {
				hdr, err := proxyproto.Read(br)
				if err != nil {
					t.Fatal(err)
				}
				src, _, ok := hdr.TCPAddrs()
				if hdr.Version != 2 || !ok || src.AddrPort() != netip.AddrPortFrom(claimed, uint16(client.LocalAddr().(*net.TCPAddr).Port)) {
					t.Fatalf("header %+v, want v2 from %s", hdr, claimed)
				}
			}
			payload := make([]byte, 6)
			if _, err := io.ReadFull(br, payload); err != nil || !bytes.Equal(payload, []byte("\x03hello")) {
				t.Fatalf("payload %q (%v), want the client's bytes after the header", payload, err)
			}
			if _, err := server.Write([]byte("reply")); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 5)
			if _, err := io.ReadFull(client, got); err != nil || string(got) != "reply" {
				t.Fatalf("client got %q (%v), want reply", got, err)
			}
		})
	}
}

// TestForwarderHalfClose checks a client's EOF reaches the backend while the
// backend's answer still reaches the client.
func TestForwarderHalfClose(t *testing.T) {
	ln, conns := backend(t)
	f := startTestForwarder(t, func(ctx context.Context, _ net.Conn) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", ln.Addr().String())
	})
	client, err := net.DialTimeout("tcp", f.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	_ = client.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	_ = client.(*net.TCPConn).CloseWrite()
	server := accept(t, conns)
	got, err := io.ReadAll(server)
	if err != nil || string(got) != "request" {
		t.Fatalf("backend read %q (%v), want request then EOF", got, err)
	}
	if _, err := server.Write([]byte("answer")); err != nil {
		t.Fatal(err)
	}
	_ = server.Close()
	back, err := io.ReadAll(client)
	if err != nil || string(back) != "answer" {
		t.Fatalf("client read %q (%v), want answer then EOF", back, err)
	}
}

// TestForwarderDialError checks a failed hop closes the client and is recorded.
func TestForwarderDialError(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := dead.Addr().String()
	_ = dead.Close() // nothing listens there now: the dial is refused
	f := startTestForwarder(t, ProxyTo(nil, addr, 1, netip.MustParseAddr("198.18.1.77")))
	client, err := net.DialTimeout("tcp", f.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	_ = client.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := client.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("client read %d bytes, err %v; want EOF after the failed dial", n, err)
	}
	if errs := f.Errors(); len(errs) != 1 {
		t.Fatalf("recorded errors %v, want the one refused dial", errs)
	}
}
