package rtmpt

import (
	"io"
	"strconv"
	"sync/atomic"
	"testing"
)

// BenchmarkSendIdleRoundTrip: one /send carrying 100 bytes and the /idle
// polls that bring the echo back, on one keep-alive connection of a single
// tunnel session (the server's per-request cost plus loopback).
func BenchmarkSendIdleRoundTrip(b *testing.B) {
	_, addr := startServer(b, Config{}, echoHandler)
	c := dialRaw(b, addr, "")
	id := c.open()
	payload := make([]byte, 100)
	seq := 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = c.conn.SetDeadline(timeNowPlus())
		_, reply := c.post("/send/"+id+"/"+strconv.Itoa(seq), payload)
		seq++
		got := len(reply) - 1
		for got < len(payload) {
			_, reply = c.post("/idle/"+id+"/"+strconv.Itoa(seq), []byte{0})
			seq++
			got += len(reply) - 1
		}
	}
}

// BenchmarkClientRoundTrip: Write 100 bytes, Read the echo, through the Go
// client and one tunnel session.
func BenchmarkClientRoundTrip(b *testing.B) {
	_, addr := startServer(b, Config{}, echoHandler)
	c := dialTunnel(b, addr, ClientOptions{})
	payload := make([]byte, 100)
	buf := make([]byte, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(payload); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkThroughputUpstream: client→server bytes per second through one
// tunnel session (64 KiB per op).
func BenchmarkThroughputUpstream(b *testing.B) {
	var received atomic.Int64
	done := make(chan struct{})
	var want int64
	_, addr := startServer(b, Config{}, func(c *Conn) {
		defer c.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if received.Add(int64(n)) == atomic.LoadInt64(&want) && n > 0 {
				close(done)
			}
			if err != nil {
				return
			}
		}
	})
	c := dialTunnel(b, addr, ClientOptions{})
	chunk := make([]byte, 64<<10)
	atomic.StoreInt64(&want, int64(b.N)*int64(len(chunk)))
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	<-done
}

// BenchmarkThroughputDownstream: server→client bytes per second through one
// tunnel session (64 KiB per op).
func BenchmarkThroughputDownstream(b *testing.B) {
	chunk := make([]byte, 64<<10)
	n := b.N
	_, addr := startServer(b, Config{}, func(c *Conn) {
		defer c.Close()
		for range n {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	})
	c := dialTunnel(b, addr, ClientOptions{})
	buf := make([]byte, len(chunk))
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}
