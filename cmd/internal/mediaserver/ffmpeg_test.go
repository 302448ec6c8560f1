package mediaserver

import (
	"github.com/rtmp-edge/rtmp-edge/integration/peers"

	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests with real FFmpeg: a generated H.264/AAC file is published with -c copy,
// players receive with -c copy into framemd5, and every packet they receive
// must be one of the file's packets, byte for byte.

var (
	sourceOnce sync.Once
	sourceFile string
	sourceSet  *packetSet
	sourceErr  error
	sourceDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sourceDir != "" {
		_ = os.RemoveAll(sourceDir)
	}
	os.Exit(code)
}

func needFFmpeg(t *testing.T) {
	t.Helper()
	peers.Ensure(t, "ffmpeg", "ffprobe") // installs them when missing: never a skip
}

// packetSet is what framemd5/ffprobe say about a stream's packets.
type packetSet struct {
	hashes    map[string]bool // md5 of every packet's data
	keyframes map[string]bool // md5 of video keyframes
	extradata map[string]bool // "stream:md5" of the codec extradata (from the sequence headers)
}

// source returns the generated source file and its packets.
func source(t *testing.T) (string, *packetSet) {
	t.Helper()
	needFFmpeg(t)
	sourceOnce.Do(func() {
		sourceDir, sourceErr = os.MkdirTemp("", "mediaserver-test")
		if sourceErr != nil {
			return
		}
		sourceFile = filepath.Join(sourceDir, "source.flv")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		gen := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
			"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=1000",
			"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-t", "5", "-f", "flv", sourceFile)
		if out, err := gen.CombinedOutput(); err != nil {
			sourceErr = fmt.Errorf("generate source: %w: %s", err, out)
			return
		}
		sourceSet, sourceErr = probeKeyframes(ctx, sourceFile)
		if sourceErr != nil {
			return
		}
		var fm *packetSet
		fm, sourceErr = framemd5(ctx, sourceFile)
		if sourceErr != nil {
			return
		}
		if len(fm.hashes) != len(sourceSet.hashes) {
			sourceErr = fmt.Errorf("framemd5 and ffprobe disagree: %d vs %d distinct packets", len(fm.hashes), len(sourceSet.hashes))
		}
		sourceSet.extradata = fm.extradata
	})
	if sourceErr != nil {
		t.Fatal(sourceErr)
	}
	return sourceFile, sourceSet
}

// probeKeyframes lists packet hashes and which video packets are keyframes.
func probeKeyframes(ctx context.Context, file string) (*packetSet, error) {
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_packets", "-show_data_hash", "MD5",
		"-show_entries", "packet=stream_index,flags,data_hash", "-of", "csv", file).Output()
	if err != nil {
		return nil, fmt.Errorf("ffprobe %s: %w", file, err)
	}
	ps := &packetSet{hashes: map[string]bool{}, keyframes: map[string]bool{}}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, ",") // packet,stream,flags,MD5:hash
		if len(f) != 4 || f[0] != "packet" {
			continue
		}
		h := strings.TrimPrefix(f[3], "MD5:")
		ps.hashes[h] = true
		if f[1] == "0" && strings.HasPrefix(f[2], "K") {
			ps.keyframes[h] = true
		}
	}
	if len(ps.keyframes) == 0 {
		return nil, fmt.Errorf("ffprobe %s: no keyframes found", file)
	}
	return ps, nil
}

// received is what one framemd5 run saw, in order.
type received struct {
	packets   []packet
	extradata map[string]bool
}

type packet struct {
	stream string
	hash   string
}

func parseFramemd5(out []byte) *received {
	r := &received{extradata: map[string]bool{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "#extradata "); ok {
			f := strings.Split(rest, ",")
			r.extradata[strings.TrimSpace(f[0])+":"+strings.TrimSpace(f[len(f)-1])] = true
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) == 6 {
			r.packets = append(r.packets, packet{stream: strings.TrimSpace(f[0]), hash: strings.TrimSpace(f[5])})
		}
	}
	return r
}

func framemd5(ctx context.Context, input string) (*packetSet, error) {
	out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", input,
		"-c", "copy", "-f", "framemd5", "-").Output()
	if err != nil {
		return nil, fmt.Errorf("framemd5 %s: %w", input, err)
	}
	r := parseFramemd5(out)
	ps := &packetSet{hashes: map[string]bool{}, extradata: r.extradata}
	for _, p := range r.packets {
		ps.hashes[p.hash] = true
	}
	return ps, nil
}

// startServer runs a Server on a fresh 127.0.0.1 port for the test's lifetime.
func startServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(cfg)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve returned %v after Close, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return s, ln.Addr().String()
}

// publish starts ffmpeg publishing the source file in real time.
func publish(t *testing.T, ctx context.Context, file, url string) <-chan error {
	t.Helper()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", file,
		"-c", "copy", "-f", "flv", url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		if err != nil {
			err = fmt.Errorf("publisher: %w: %s", err, stderr.String())
		}
		done <- err
	}()
	return done
}

// play runs an ffmpeg player until the stream ends and returns what it got.
func play(ctx context.Context, url string) (*received, error) {
	// -copyinkf: FFmpeg's stream copy would otherwise hide frames before the
	// first keyframe, which is what the keyframe check looks for.
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", url,
		"-c", "copy", "-copyinkf", "-f", "framemd5", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("player %s: %w: %s", url, err, stderr.String())
	}
	return parseFramemd5(out), nil
}

// waitFor polls cond until it holds or the test's patience runs out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func publisherOn(s *Server, app, stream string) func() bool {
	return func() bool {
		for _, c := range s.Clients() {
			if c.Publishing && c.App == app && c.Stream == stream {
				return true
			}
		}
		return false
	}
}

// checkPlayback asserts a player got only source packets, starting with the
// sequence headers and a video keyframe, and at least minPackets of them.
func checkPlayback(t *testing.T, name string, got *received, src *packetSet, minPackets int) {
	t.Helper()
	if len(got.packets) < minPackets {
		t.Errorf("%s: got %d packets, want at least %d", name, len(got.packets), minPackets)
	}
	for e := range src.extradata {
		if !got.extradata[e] {
			t.Errorf("%s: extradata %s missing (sequence headers not delivered); got %v", name, e, got.extradata)
		}
	}
	firstVideo := true
	for i, p := range got.packets {
		if !src.hashes[p.hash] {
			t.Errorf("%s: packet %d (stream %s) hash %s is not in the published set", name, i, p.stream, p.hash)
			return
		}
		if p.stream == "0" && firstVideo {
			firstVideo = false
			if !src.keyframes[p.hash] {
				t.Errorf("%s: first video packet (index %d) is not a keyframe", name, i)
			}
		}
	}
	if firstVideo {
		t.Errorf("%s: no video packet received", name)
	}
}

func TestFFmpegPublishTwoPlayersAndLateJoiner(t *testing.T) {
	file, src := source(t)
	s, addr := startServer(t, Config{Name: "media-test"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := "rtmp://" + addr + "/live/demo"

	pubDone := publish(t, ctx, file, url)
	waitFor(t, "the publisher", publisherOn(s, "live", "demo"))

	type result struct {
		name string
		got  *received
		err  error
	}
	results := make(chan result, 3)
	player := func(name string) {
		got, err := play(ctx, url)
		results <- result{name, got, err}
	}
	go player("player1")
	go player("player2")
	time.Sleep(2500 * time.Millisecond) // the third joins mid-stream, mid-GOP
	go player("late joiner")

	// A late joiner also gets the publisher's onMetaData (FFmpeg's shows its "encoder").
	probe, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "format_tags=encoder", "-of", "default", url).Output()
	if err != nil {
		t.Errorf("ffprobe of the live stream: %v", err)
	} else if !strings.Contains(string(probe), "TAG:encoder=Lavf") {
		t.Errorf("late joiner got no onMetaData; ffprobe says:\n%s", probe)
	}

	for range 3 {
		r := <-results
		if r.err != nil {
			t.Errorf("%s: %v", r.name, r.err)
			continue
		}
		// 5 s of 25 fps video plus ~43 AAC frames/s; the late joiner sees about half.
		checkPlayback(t, r.name, r.got, src, 50)
	}
	if err := <-pubDone; err != nil {
		t.Error(err)
	}
}

func TestFFmpegPushToSecondServer(t *testing.T) {
	file, src := source(t)
	downstream, downAddr := startServer(t, Config{Name: "media01"})
	upstream, upAddr := startServer(t, Config{Name: "media03", Push: []string{downAddr}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	pubDone := publish(t, ctx, file, "rtmp://"+upAddr+"/live/pushed")
	waitFor(t, "the publisher on the upload server", publisherOn(upstream, "live", "pushed"))
	waitFor(t, "the push on the downstream server", publisherOn(downstream, "live", "pushed"))

	got, err := play(ctx, "rtmp://"+downAddr+"/live/pushed")
	if err != nil {
		t.Fatal(err)
	}
	checkPlayback(t, "player of the pushed copy", got, src, 50)
	if err := <-pubDone; err != nil {
		t.Error(err)
	}
	waitFor(t, "the push to end with the publisher", func() bool { return !publisherOn(downstream, "live", "pushed")() })
}
