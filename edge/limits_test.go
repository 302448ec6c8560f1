package edge

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/yutopp/go-rtmp"
	rtmpmsg "github.com/yutopp/go-rtmp/message"
)

// startHandshake sends C0+C1 and returns the conn; the caller reads S0S1S2.
func startHandshake(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c0c1 := make([]byte, 1537)
	c0c1[0] = 3
	if _, err := c.Write(c0c1); err != nil {
		t.Fatal(err)
	}
	return c
}

// Listener maxconn: the client past the limit is not served (it waits in the
// backlog) until a slot frees, then it is.
func TestListenerMaxConnHoldsTheNextClientInTheBacklog(t *testing.T) {
	_, servers := threeServers(t)
	cfg := testConfig(servers...)
	cfg.Listeners[0].MaxConn = 2
	cfg.Listeners[0].HandshakeTimeout = 10 * time.Second
	e := startEdge(t, cfg)

	held := []net.Conn{startHandshake(t, e.addr), startHandshake(t, e.addr)}
	for _, c := range held {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, 3073)); err != nil {
			t.Fatalf("a client within maxconn got no S0S1S2: %v", err)
		}
	}
	third := startHandshake(t, e.addr)
	_ = third.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := third.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the client past maxconn was served (n=%d, err=%v)", n, err)
	}
	held[0].Close()
	_ = third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(third, make([]byte, 3073)); err != nil {
		t.Fatalf("the waiting client was not served after a slot freed: %v", err)
	}
}

// Server maxconn: a session over the limit waits queue_timeout, then is
// closed with a logged reason.
func TestServerMaxConnQueueTimeout(t *testing.T) {
	_, servers := threeServers(t)
	one := servers[0]
	one.MaxConn = 1
	cfg := testConfig(one)
	cfg.Backends[0].QueueTimeout = 200 * time.Millisecond
	e := startEdge(t, cfg)

	first := goClient(t, e.addr, playerConnect) // holds the only slot
	_ = first
	c, err := rtmp.DialWithDialer(&net.Dialer{}, "rtmp", e.addr, &rtmp.ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() { _ = c.Connect(&rtmpmsg.NetConnectionConnect{Command: playerConnect}) }()
	rec := e.log.wait(t, "session rejected", func(r map[string]any) bool { return r["label"] == "queue_timeout" })
	if rec["kind"] != "play" {
		t.Errorf("rejected record lacks the routing facts: %v", rec)
	}
}

// proxyFront accepts clients and forwards them to the edge behind a PROXY v1
// header naming src, as an L4 balancer in front of the edge would.
func proxyFront(t *testing.T, edgeAddr, header string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", edgeAddr)
				if err != nil {
					return
				}
				defer up.Close()
				_, _ = io.WriteString(up, header)
				go func() {
					_, _ = io.Copy(up, c)
					_ = up.(*net.TCPConn).CloseWrite()
				}()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestAcceptProxyUsesTheHeaderAddress(t *testing.T) {
	backends, servers := threeServers(t)
	cfg := testConfig(servers...)
	cfg.Listeners[0].AcceptProxy = true
	e := startEdge(t, cfg)

	front := proxyFront(t, e.addr, "PROXY TCP4 198.18.1.77 198.18.1.1 40000 1935\r\n")
	c := goClient(t, front, encoderConnect)
	publish(t, c, "viaproxy")
	waitEvent(t, "publish", backends...)
	_ = c.Close()
	rec := e.log.wait(t, "session end", nil)
	if rec["client"] != "198.18.1.77:40000" {
		t.Fatalf("session client = %v, want the PROXY header's 198.18.1.77:40000", rec["client"])
	}

	// Without a header the listener refuses the client, with a reason.
	raw := startHandshake(t, e.addr)
	_ = raw
	rec = e.log.wait(t, "session rejected", func(r map[string]any) bool { return r["label"] == "proxy_header_error" })
	if rec["reason"] == nil {
		t.Fatalf("no reason: %v", rec)
	}
}

func TestListenerWithoutAcceptProxyNeverParsesOne(t *testing.T) {
	_, servers := threeServers(t)
	e := startEdge(t, testConfig(servers...))
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "PROXY TCP4 198.18.1.77 198.18.1.1 40000 1935\r\n")
	rec := e.log.wait(t, "session rejected", nil)
	if rec["label"] != "not_rtmp" {
		t.Fatalf("a PROXY header on a plain listener gave %v, want not_rtmp", rec)
	}
}
