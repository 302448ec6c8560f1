package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Packet identifies one media packet independent of timing: a live player joins
// late and the server rewrites timestamps, but codec, size and payload hash stay.
type Packet struct {
	Codec string // "h264", "aac" (ffmpeg codec names)
	Size  int
	Hash  string // MD5 of the payload as ffmpeg's demuxer delivers it, lower-case hex
}

// Packets is a list of packets in the order received.
type Packets []Packet

// ErrNoPackets is returned when a player received too few packets to judge.
var ErrNoPackets = errors.New("too few packets received")

// ErrForeignPacket is returned when a received packet is not in the published set.
var ErrForeignPacket = errors.New("received packet not in the published stream")

// Count returns how many packets of codec the list holds.
func (ps Packets) Count(codec string) int {
	n := 0
	for _, p := range ps {
		if p.Codec == codec {
			n++
		}
	}
	return n
}

// CheckSubsetOf verifies that every packet in ps is one of published and that ps
// holds at least min packets of each of the codecs "h264" and "aac".
func (ps Packets) CheckSubsetOf(published Packets, min int) error {
	set := make(map[Packet]bool, len(published))
	for _, p := range published {
		set[p] = true
	}
	for i, p := range ps {
		if !set[p] {
			return fmt.Errorf("packet %d of %d (%s, %d bytes, %s): %w", i, len(ps), p.Codec, p.Size, p.Hash, ErrForeignPacket)
		}
	}
	for _, codec := range []string{"h264", "aac"} {
		if n := ps.Count(codec); n < min {
			return fmt.Errorf("%d %s packets of %d in all, want at least %d: %w", n, codec, len(ps), min, ErrNoPackets)
		}
	}
	return nil
}

// MakeTestStream encodes a seconds-long H.264/AAC test stream (320x240, 25 fps,
// keyframe every second, 1 kHz tone) into an FLV file in t's temp dir.
func MakeTestStream(t testing.TB, seconds int) string {
	t.Helper()
	RequireTool(t, "ffmpeg")
	out := filepath.Join(t.TempDir(), fmt.Sprintf("test-%ds.flv", seconds))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := RunTool(ctx, "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=1000",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25",
		"-c:a", "aac", "-b:a", "64k", "-t", strconv.Itoa(seconds), "-f", "flv", "-y", out)
	if err != nil {
		t.Fatalf("make test stream: %v", err)
	}
	return out
}

// FrameMD5 runs `ffmpeg [inputArgs] -i input -c copy -f framemd5 -` (bounded by ctx)
// and returns the packets it saw. input is a file or a URL; for a live URL put a
// duration limit in inputArgs (e.g. "-t", "4") or end it through ctx.
func FrameMD5(ctx context.Context, input string, inputArgs ...string) (Packets, error) {
	argv := []string{"ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error"}
	argv = append(argv, inputArgs...)
	argv = append(argv, "-i", input, "-c", "copy", "-f", "framemd5", "-")
	out, err := RunTool(ctx, argv...)
	if err != nil {
		return nil, fmt.Errorf("framemd5 of %s: %w", input, err)
	}
	return ParseFrameMD5(out)
}

// MustFrameMD5 is FrameMD5 of a file with a 60 s bound; it fails the test on error.
func MustFrameMD5(t testing.TB, path string) Packets {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ps, err := FrameMD5(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) == 0 {
		t.Fatalf("framemd5 of %s: no packets", path)
	}
	return ps
}

// ParseFrameMD5 parses ffmpeg's framemd5 output (version 2): "#codec_id N: name"
// header lines map stream indexes to codecs (a live player may number streams in
// another order than the file), data lines are "index, dts, pts, duration, size, hash".
func ParseFrameMD5(out []byte) (Packets, error) {
	codecs := map[string]string{}
	var ps Packets
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "#codec_id "); ok {
			idx, name, found := strings.Cut(rest, ":")
			if !found {
				return nil, fmt.Errorf("framemd5: bad codec line %q", line)
			}
			codecs[strings.TrimSpace(idx)] = strings.TrimSpace(name)
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) < 6 {
			return nil, fmt.Errorf("framemd5: bad packet line %q", line)
		}
		idx := strings.TrimSpace(f[0])
		codec, ok := codecs[idx]
		if !ok {
			return nil, fmt.Errorf("framemd5: packet of stream %s without a codec line", idx)
		}
		size, err := strconv.Atoi(strings.TrimSpace(f[4]))
		if err != nil {
			return nil, fmt.Errorf("framemd5: bad size in %q: %w", line, err)
		}
		ps = append(ps, Packet{Codec: codec, Size: size, Hash: strings.TrimSpace(f[5])})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("framemd5: read output: %w", err)
	}
	return ps, nil
}
