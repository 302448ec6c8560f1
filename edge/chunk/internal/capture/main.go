// Command capture records what real RTMP clients send, for the test data of
// edge/handshake, edge/chunk and edge/amf0.
//
// It answers each client's handshake with handshake.Serve, then does its own
// simple handshake with a media server (e.g. a local nginx-rtmp) and relays
// both ways for -for, so the client goes on past connect to
// createStream/publish/play. It writes, per connection:
//
//	<out>/<name>.c0c1.bin    C0+C1 as the client sent it
//	<out>/<name>.stream.bin  every client byte after C2 (up to -max)
//	<out>/<name>.N-<command>.bin  each command payload (type 20/17) found in the stream
//
// Usage (one client per run):
//
//	go run ./edge/chunk/internal/capture -listen 127.0.0.1:19350 -backend 127.0.0.1:19351 -name ffmpeg-play &
//	ffmpeg -i rtmp://127.0.0.1:19350/live/x -t 1 -f null -
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

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
	"github.com/rtmp-edge/rtmp-edge/edge/handshake"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:19350", "address to listen on (loopback)")
	backend := flag.String("backend", "127.0.0.1:19351", "media server to relay to")
	name := flag.String("name", "capture", "file name prefix")
	out := flag.String("out", ".", "output directory")
	dur := flag.Duration("for", 3*time.Second, "how long to record after the handshake")
	maxBytes := flag.Int("max", 64<<10, "most stream bytes recorded")
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

	hsRec := &recorder{r: client, max: 1 + handshake.PacketLen}
	br := bufio.NewReader(hsRec)
	res, err := handshake.Serve(br, client)
	if err != nil {
		return fmt.Errorf("client handshake: %w", err)
	}
	slog.Info("client handshake", "digest", res.Digest, "scheme", res.Scheme, "version", res.ClientVersion)
	if err := os.WriteFile(prefix+".c0c1.bin", hsRec.bytes(), 0o644); err != nil {
		return err
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
	streamRec := &recorder{r: br, max: maxBytes}
	go io.Copy(client, server)
	io.Copy(server, streamRec)

	stream := streamRec.bytes()
	if err := os.WriteFile(prefix+".stream.bin", stream, 0o644); err != nil {
		return err
	}
	return writeCommands(prefix, stream)
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

func writeCommands(prefix string, stream []byte) error {
	s := chunk.NewScanner(chunk.Limits{})
	n := 0
	err := s.Feed(stream, func(m chunk.Message) error {
		if m.Type != chunk.TypeCommandAMF0 && m.Type != chunk.TypeCommandAMF3 {
			return nil
		}
		n++
		name := "command"
		if cmd, err := amf0.ParseCommand(m.Payload, m.Type); err == nil {
			name = cmd.Name
		}
		return os.WriteFile(fmt.Sprintf("%s.%d-%s.bin", prefix, n, name), m.Payload, 0o644)
	})
	slog.Info("stream recorded", "bytes", len(stream), "commands", n, "scan_err", err)
	return err
}
