package edge

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/routing"
)

// discardServer is the cheapest media server: it answers the handshake and
// swallows the rest, so a benchmark measures the edge.
func discardServer(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	s0s1s2 := make([]byte, 3073)
	s0s1s2[0] = 3
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := io.ReadFull(c, make([]byte, 1537)); err != nil {
					return
				}
				_, _ = c.Write(s0s1s2)
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// BenchmarkSessionSetup is one whole session through the edge: the client's
// simple handshake and connect, routing with the stick table, the dial and
// handshake with the media server, the replay, and the end of the relay.
func BenchmarkSessionSetup(b *testing.B) {
	server := discardServer(b)
	cfg := testConfig(routing.ServerConfig{Name: "sink", Address: server})
	e := startEdge(b, cfg) // stopped by b.Cleanup
	c0c1 := make([]byte, 1537)
	c0c1[0] = 3
	var hello bytes.Buffer
	hello.Write(make([]byte, 1536)) // C2
	hello.Write(command("connect", connectObject))
	s := make([]byte, 3073)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			b.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(c0c1); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, s); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(hello.Bytes()); err != nil {
			b.Fatal(err)
		}
		_ = c.(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(io.Discard, c) // the edge closes when the relay ends
		c.Close()
	}
}
