package rtmpt

import (
	"bytes"
	"crypto/rand"
	"net"
	"testing"
)

// TestClientQuirksEcho round-trips bytes through an echoing Server with each
// client quirk, and checks the session is gone after the client's Close.
func TestClientQuirksEcho(t *testing.T) {
	cases := []struct {
		name string
		opts ClientOptions
	}{
		{"ffmpeg-like", ClientOptions{}},
		{"ident2", ClientOptions{Ident2: true}},
		{"idle-first", ClientOptions{IdleFirst: true}},
		{"empty-bodies", ClientOptions{EmptyBodies: true, IdleFirst: true}},
		{"close-without-seq", ClientOptions{CloseWithoutSeq: true}},
		{"conn-per-request", ClientOptions{ConnPerRequest: true}},
		{"resend", ClientOptions{Resend: true}},
		{"haishinkit", ClientOptions{Ident2: true, IdleFirst: true, CloseWithoutSeq: true, Resend: true}},
		{"rootencoder", ClientOptions{Ident2: true, IdleFirst: true, EmptyBodies: true, CloseWithoutSeq: true, ConnPerRequest: true}},
		{"local-addr", ClientOptions{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 5)}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, addr := startServer(t, Config{}, echoHandler)
			c := dialTunnel(t, addr, tc.opts)
			// Bigger than one reply (64 KiB) and one /send, so splitting and
			// reassembly are exercised.
			want := make([]byte, 200<<10)
			_, _ = rand.Read(want)
			werr := make(chan error, 1)
			go func() {
				_, err := c.Write(want)
				werr <- err
			}()
			got := readFull(t, c, len(want))
			if err := <-werr; err != nil {
				t.Fatalf("Write: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("echo differs (first difference at %d)", firstDiff(got, want))
			}
			st := srv.Stats()
			if st.BytesIn != uint64(len(want)) {
				t.Errorf("BytesIn = %d, want %d (a resent body fed twice?)", st.BytesIn, len(want))
			}
			if tc.opts.Resend && st.Duplicates == 0 {
				t.Errorf("Resend: no duplicate counted")
			}
			if c.LocalAddr() == nil || c.RemoteAddr() == nil || c.RemoteAddr().String() != addr {
				t.Errorf("client addresses %v -> %v, want a local address and %s", c.LocalAddr(), c.RemoteAddr(), addr)
			}
			if tc.opts.LocalAddr != nil {
				if got := srv.table.ipCount("127.0.0.5"); got != 1 {
					t.Errorf("sessions of 127.0.0.5 = %d, want 1", got)
				}
			}
			if err := c.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			waitFor(t, "session removed", func() bool { return srv.Sessions() == 0 })
			if st := srv.Stats(); st.SessionsOpened != 1 || st.SessionsClosed != 1 {
				t.Errorf("opened/closed = %d/%d, want 1/1", st.SessionsOpened, st.SessionsClosed)
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
