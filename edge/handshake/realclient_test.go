package handshake

import (
	"github.com/rtmp-edge/rtmp-edge/integration/peers"

	"bufio"
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"
)

// realClientResult is what the test server saw from a real client.
type realClientResult struct {
	res   Result
	err   error
	after []byte // bytes the client sent after C2 (its connect, if the handshake passed)
	in    []byte // C0+C1+C2 as the client sent them
	out   []byte // S0+S1+S2 as sent to the client
}

// signedC2 reports whether C2 carries the FP9 client signature over our S1
// digest (FFmpeg and librtmp after validating the server), which proves the
// client took the digest path with our S1.
func (rc realClientResult) signedC2() bool {
	if len(rc.in) != 1+2*PacketLen || len(rc.out) != 1+2*PacketLen {
		return false
	}
	s1, c2 := rc.out[1:1+PacketLen], rc.in[1+PacketLen:]
	off := testOffset(s1, SchemeOffset8)
	key := testHMAC(genuineFPKey, s1[off:off+32])
	return bytes.Equal(testHMAC(key, c2[:1504]), c2[1504:])
}

func (rc realClientResult) c2EchoesS1() bool {
	return len(rc.in) == 1+2*PacketLen && len(rc.out) == 1+2*PacketLen &&
		bytes.Equal(rc.in[1+PacketLen:], rc.out[1:1+PacketLen])
}

// recordingConn keeps the first max bytes read from and written to a conn.
type recordingConn struct {
	net.Conn
	in, out []byte
	max     int
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in = append(c.in, p[:min(n, max(0, c.max-len(c.in)))]...)
	return n, err
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.out = append(c.out, p[:min(len(p), max(0, c.max-len(c.out)))]...)
	return c.Conn.Write(p)
}

// serveRealClient listens on 127.0.0.1, starts the client command (the URL is
// appended by mk), answers one connection with Serve and collects what the
// client sends after C2 until it has sent the connect command name or 5 s
// pass. The client is killed afterwards; its output is logged on failure.
func serveRealClient(t *testing.T, mk func(url string) *exec.Cmd) realClientResult {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	cmd := mk("rtmp://" + ln.Addr().String() + "/live/x")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", cmd.Path, out.String())
		}
	}()

	done := make(chan realClientResult, 1)
	go func() {
		var rc realClientResult
		defer func() { done <- rc }()
		conn, err := ln.Accept()
		if err != nil {
			rc.err = err
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		rec := &recordingConn{Conn: conn, max: 1 + 2*PacketLen}
		// A reader without read-ahead: rec.in is exactly C0+C1+C2.
		rc.res, rc.err = Serve(rec, rec)
		rc.in, rc.out = rec.in, rec.out
		r := bufio.NewReader(conn)
		if rc.err != nil {
			return
		}
		buf := make([]byte, 4096)
		for !bytes.Contains(rc.after, []byte("connect")) && len(rc.after) < 64<<10 {
			n, err := r.Read(buf)
			rc.after = append(rc.after, buf[:n]...)
			if err != nil {
				return
			}
		}
	}()
	select {
	case rc := <-done:
		return rc
	case <-time.After(10 * time.Second):
		t.Fatal("no client connection within 10 s")
		return realClientResult{}
	}
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	peers.Ensure(t, name) // installs it when missing: a real-client test never skips
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

// FFmpeg's C1 always carries a digest, and an FFmpeg player validates S1's
// digest and S2's signature when S1's version byte is >= 3: it sends connect
// only if both were right ("Server response validating failed" and
// "Signature mismatch" otherwise).
func TestRealFFmpegPlayerValidatesDigestHandshake(t *testing.T) {
	ffmpeg := needTool(t, "ffmpeg")
	rc := serveRealClient(t, func(url string) *exec.Cmd {
		return exec.Command(ffmpeg, "-nostdin", "-loglevel", "debug",
			"-rw_timeout", "8000000", "-i", url, "-t", "1", "-f", "null", "-")
	})
	if rc.err != nil {
		t.Fatalf("handshake with ffmpeg: %v", rc.err)
	}
	if !rc.res.Digest || rc.res.Scheme != SchemeOffset8 {
		t.Errorf("Result = %+v, want a digest at offset-8", rc.res)
	}
	if rc.res.ClientVersion != [4]byte{9, 0, 124, 2} {
		t.Errorf("ClientVersion = %v, want FFmpeg's 9.0.124.2", rc.res.ClientVersion)
	}
	if !bytes.Contains(rc.after, []byte("connect")) {
		t.Errorf("ffmpeg sent no connect after C2 (%d bytes): it rejected the handshake", len(rc.after))
	}
	if !rc.signedC2() {
		t.Error("ffmpeg's C2 is not signed over our S1 digest")
	}
}

// FFmpeg publishing does not validate, but answers the digest handshake too.
func TestRealFFmpegPublisher(t *testing.T) {
	ffmpeg := needTool(t, "ffmpeg")
	rc := serveRealClient(t, func(url string) *exec.Cmd {
		return exec.Command(ffmpeg, "-nostdin", "-loglevel", "debug",
			"-f", "lavfi", "-i", "testsrc=size=64x64:rate=5", "-t", "1", "-f", "flv", "-rw_timeout", "8000000", url)
	})
	if rc.err != nil {
		t.Fatalf("handshake with ffmpeg: %v", rc.err)
	}
	if !rc.res.Digest {
		t.Errorf("Result = %+v, want the digest path", rc.res)
	}
	if !bytes.Contains(rc.after, []byte("connect")) {
		t.Errorf("ffmpeg sent no connect after C2 (%d bytes)", len(rc.after))
	}
	if !rc.c2EchoesS1() {
		t.Error("ffmpeg publishing should answer C2 = S1 echo (it does not validate)")
	}
}

// rtmpdump without swfVfy sends a zero-version C1: the simple handshake; in
// that mode librtmp only warns when S2 is not the C1 echo, so the check here
// is that it proceeds to connect and that we chose the simple path.
func TestRealRtmpdumpSimple(t *testing.T) {
	rtmpdump := needTool(t, "rtmpdump")
	rc := serveRealClient(t, func(url string) *exec.Cmd {
		return exec.Command(rtmpdump, "-r", url, "-o", "/dev/null", "-m", "8", "--live")
	})
	if rc.err != nil {
		t.Fatalf("handshake with rtmpdump: %v", rc.err)
	}
	if rc.res.Digest || rc.res.ClientVersion != [4]byte{} {
		t.Errorf("Result = %+v, want the simple path with a zero client version", rc.res)
	}
	if !bytes.Contains(rc.after, []byte("connect")) {
		t.Errorf("rtmpdump sent no connect after C2 (%d bytes)", len(rc.after))
	}
	if !rc.c2EchoesS1() {
		t.Error("rtmpdump's simple-handshake C2 is not the S1 echo")
	}
}

// rtmpdump with --swfVfy uses librtmp's FP9 handshake and checks the server:
// "Couldn't verify the server digest" or "Server not genuine Adobe!" end it
// before connect. It first fetches the SWF: a local HTTP server serves a
// minimal uncompressed one.
func TestRealRtmpdumpSwfVfyValidatesDigestHandshake(t *testing.T) {
	rtmpdump := needTool(t, "rtmpdump")
	swf := append([]byte("FWS\x0a"), 208, 0, 0, 0)
	swf = append(swf, make([]byte, 200)...)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(swf) }))
	defer web.Close()
	home := t.TempDir() // librtmp caches SWF hashes in $HOME/.swfinfo
	rc := serveRealClient(t, func(url string) *exec.Cmd {
		cmd := exec.Command(rtmpdump, "-r", url, "--swfVfy", web.URL+"/p.swf", "-o", "/dev/null", "-m", "8", "--live")
		cmd.Env = append(os.Environ(), "HOME="+home)
		return cmd
	})
	if rc.err != nil {
		t.Fatalf("handshake with rtmpdump: %v", rc.err)
	}
	if !rc.res.Digest || rc.res.ClientVersion != [4]byte{10, 0, 45, 2} {
		t.Errorf("Result = %+v, want librtmp's FP9 C1 (10.0.45.2) with a digest", rc.res)
	}
	if !bytes.Contains(rc.after, []byte("connect")) {
		t.Errorf("rtmpdump sent no connect after C2 (%d bytes): it rejected the handshake", len(rc.after))
	}
	if !rc.signedC2() {
		t.Error("rtmpdump's C2 is not signed over our S1 digest")
	}
}
