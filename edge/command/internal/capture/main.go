// Command capture records both directions of real RTMP sessions after the
// handshakes, for the test data of edge/command: what the client sent
// (which the edge records and replays) and what the media server answered
// (what the edge imitates before routing and filters after it).
//
// It answers the client's handshake with handshake.Serve (the edge's own),
// does a simple handshake with the media server, then relays both ways for
// -for and writes
//
//	<out>/<name>.client.bin  every client byte after C2
//	<out>/<name>.server.bin  every server byte after S2
//
// Usage (one client per run), against nginx-rtmp on 127.0.0.1:19351:
//
//	go run ./edge/command/internal/capture -name nginx-ffmpeg-publish &
//	ffmpeg -re -f lavfi -i testsrc=size=160x120:rate=10 -t 2 -c:v libx264 -f flv rtmp://127.0.0.1:19350/live/stream1
package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rtmp-edge/rtmp-edge/edge/handshake"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:19350", "address to listen on (loopback)")
	backend := flag.String("backend", "127.0.0.1:19351", "media server to relay to")
	name := flag.String("name", "capture", "file name prefix")
	out := flag.String("out", ".", "output directory")
	dur := flag.Duration("for", 4*time.Second, "how long to record after the handshake")
	maxBytes := flag.Int("max", 256<<10, "most bytes recorded per direction")
	flag.Parse()
	if err := run(*listen, *backend, filepath.Join(*out, *name), *dur, *maxBytes); err != nil {
		slog.Error("capture failed", "err", err)
		os.Exit(1)
	}
}

// recorder keeps the first max bytes read through it.
type recorder struct {
	r   io.Reader
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (rec *recorder) Read(p []byte) (int, error) {
	n, err := rec.r.Read(p)
	rec.mu.Lock()
	if room := rec.max - rec.buf.Len(); room > 0 {
		rec.buf.Write(p[:min(n, room)])
	}
	rec.mu.Unlock()
	return n, err
}

func (rec *recorder) bytes() []byte {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return bytes.Clone(rec.buf.Bytes())
}

func run(listen, backend, prefix string, dur time.Duration, maxBytes int) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	client, err := ln.Accept()
	if err != nil {
		return err
	}
	defer client.Close()
	client.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(client)
	if _, err := handshake.Serve(br, client); err != nil {
		return fmt.Errorf("client handshake: %w", err)
	}

	server, err := net.DialTimeout("tcp", backend, 5*time.Second)
	if err != nil {
		return err
	}
	defer server.Close()
	server.SetDeadline(time.Now().Add(10 * time.Second))
	if err := clientHandshake(server); err != nil {
		return fmt.Errorf("server handshake: %w", err)
	}

	deadline := time.Now().Add(dur)
	client.SetDeadline(deadline)
	server.SetDeadline(deadline)
	fromClient := &recorder{r: br, max: maxBytes}
	fromServer := &recorder{r: server, max: maxBytes}
	done := make(chan struct{})
	go func() {
		io.Copy(client, fromServer)
		client.Close()
		close(done)
	}()
	io.Copy(server, fromClient)
	server.Close()
	<-done

	c, s := fromClient.bytes(), fromServer.bytes()
	slog.Info("recorded", "client_bytes", len(c), "server_bytes", len(s))
	if err := os.WriteFile(prefix+".client.bin", c, 0o644); err != nil {
		return err
	}
	return os.WriteFile(prefix+".server.bin", s, 0o644)
}

// clientHandshake is the simple handshake towards the media server.
func clientHandshake(c net.Conn) error {
	c0c1 := make([]byte, 1+handshake.PacketLen)
	c0c1[0] = handshake.Version
	rand.Read(c0c1[9:])
	if _, err := c.Write(c0c1); err != nil {
		return err
	}
	s0s1s2 := make([]byte, 1+2*handshake.PacketLen)
	if _, err := io.ReadFull(c, s0s1s2); err != nil {
		return err
	}
	_, err := c.Write(s0s1s2[1 : 1+handshake.PacketLen])
	return err
}
