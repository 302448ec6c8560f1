package rtmpt

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// waitTimeout guards every wait in the tests; it is a hang guard, not a
// timing assertion.
const waitTimeout = 10 * time.Second

// echoHandler copies the session's input back to it until EOF.
func echoHandler(c *Conn) {
	defer c.Close()
	_, _ = io.Copy(c, c)
}

// startServer runs a Server on a fresh 127.0.0.1 listener and returns its
// address. Close runs at cleanup.
func startServer(t testing.TB, cfg Config, handle func(*Conn)) (*Server, string) {
	t.Helper()
	srv, err := New(cfg, handle)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		select {
		case <-served:
		case <-time.After(waitTimeout):
			t.Errorf("Serve did not return after Close")
		}
	})
	return srv, ln.Addr().String()
}

// rawClient speaks HTTP by hand over one TCP connection, for tests that
// check exact bytes or send what no well-behaved client would.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(t testing.TB, addr string, from string) *rawClient {
	t.Helper()
	d := net.Dialer{Timeout: waitTimeout}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %q: %v", addr, from, err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(waitTimeout))
	return &rawClient{t: t, conn: c, br: bufio.NewReader(c)}
}

// request formats one POST the way librtmp does.
func request(path string, body []byte) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: test\r\nContent-Type: application/x-fcs\r\nContent-length: %d\r\n\r\n%s", path, len(body), body)
}

func (r *rawClient) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.conn, s); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// response reads one response: its raw header block and body.
func (r *rawClient) response() (header string, resp *http.Response, body []byte) {
	r.t.Helper()
	var hdr strings.Builder
	for {
		line, err := r.br.ReadString('\n')
		if err != nil {
			r.t.Fatalf("read header: %v (so far %q)", err, hdr.String())
		}
		hdr.WriteString(line)
		if line == "\r\n" {
			break
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(hdr.String())), nil)
	if err != nil {
		r.t.Fatalf("parse header %q: %v", hdr.String(), err)
	}
	body = make([]byte, resp.ContentLength)
	if _, err := io.ReadFull(r.br, body); err != nil {
		r.t.Fatalf("read body: %v", err)
	}
	return hdr.String(), resp, body
}

// post sends one request and returns status and body.
func (r *rawClient) post(path string, body []byte) (int, []byte) {
	r.t.Helper()
	r.send(request(path, body))
	_, resp, b := r.response()
	return resp.StatusCode, b
}

// open opens a session and returns its id.
func (r *rawClient) open() string {
	r.t.Helper()
	status, body := r.post("/open/1", []byte{0})
	if status != 200 {
		r.t.Fatalf("open: status %d", status)
	}
	id, err := parseOpenReply(body)
	if err != nil {
		r.t.Fatalf("open: %v", err)
	}
	return id
}

// waitFor polls cond until it holds or the hang guard fires.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// readFull reads exactly n bytes from c with the hang guard as deadline.
func readFull(t testing.TB, c net.Conn, n int) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

func dialTunnel(t testing.TB, addr string, opts ClientOptions) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := Dial(ctx, addr, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func timeNowPlus() time.Time { return time.Now().Add(waitTimeout) }
