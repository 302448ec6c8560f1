//go:build linux

package upstream

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// passFDs sends fds over a Unix socket pair with SCM_RIGHTS and returns the
// received copies (the caller still owns the originals): what a handover to
// another process does with them.
func passFDs(t *testing.T, fds ...int) []int {
	t.Helper()
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pair[0])
	defer unix.Close(pair[1])
	if err := unix.Sendmsg(pair[0], []byte{1}, unix.UnixRights(fds...), nil, 0); err != nil {
		t.Fatal(err)
	}
	oob := make([]byte, unix.CmsgSpace(4*len(fds)))
	_, oobn, _, _, err := unix.Recvmsg(pair[1], make([]byte, 1), oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages %v %v", msgs, err)
	}
	got, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(got) != len(fds) {
		t.Fatalf("rights %v %v", got, err)
	}
	return got
}

type streamResult struct {
	data []byte
	err  error
}

// stream sends the first half of data in random chunks, the rest once
// more is closed, then half-closes; and reads everything the other end sends,
// in the background, once gate is closed.
func stream(c net.Conn, data []byte, seed uint64, gate, more <-chan struct{}) <-chan streamResult {
	out := make(chan streamResult, 1)
	go func() {
		half := len(data) / 2
		for len(data[:half]) > 0 {
			n, err := c.Write(data[:min(half, 32<<10)])
			if err != nil {
				return
			}
			data, half = data[n:], half-n
		}
		<-more
		sendChunks(c, data, seed, true)
	}()
	go func() {
		<-gate
		b, err := readAllWithin(c)
		out <- streamResult{b, err}
	}()
	return out
}

// resumeFiles starts a new relay on detached sockets, as the process that
// adopts them does: the descriptors passed over SCM_RIGHTS, then net.FileConn.
func resumeFiles(t *testing.T, c, s *os.File, cfg RelayConfig, done func(RelayStats)) *Relaying {
	t.Helper()
	fds := passFDs(t, int(c.Fd()), int(s.Fd()))
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "resumed")
		conn, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = conn
	}
	return Start(conns[0], conns[1], cfg, nil, done)
}

// Detach in the middle of two streams while the relay holds bytes the client
// has not taken yet, the sockets passed over SCM_RIGHTS, a new relay on them:
// both sides receive every byte exactly once, in order, and the counters go
// on from where they were.
func TestDetachMidStream(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode RelayConfig) {
		rng := rand.New(rand.NewPCG(1, 2))
		up, down := randomStream(rng, 4<<20), randomStream(rng, 8<<20)
		clientApp, clientEdge := tcpPair(t)
		serverEdge, serverApp := tcpPair(t)
		// Client-side buffers far smaller than the stream (windows still
		// above loopback's 64 KiB segment), so that the relay has to wait.
		clientApp.SetReadBuffer(256 << 10)
		counters := new(Counters)
		cfg := mode
		cfg.Counters, cfg.SndBuf, cfg.ClientCloseLinger = counters, 64<<10, -1
		first := make(chan RelayStats, 2)
		h := Start(clientEdge, serverEdge, cfg, nil, func(st RelayStats) { first <- st })
		open, clientReads, moved := make(chan struct{}), make(chan struct{}), make(chan struct{})
		close(open)
		// Neither side closes before the Detach (a half-closed relay stays).
		atServer := stream(serverApp, down, 3, open, moved)
		atClient := stream(clientApp, up, 4, clientReads, moved)

		// The client reads nothing yet: the relay waits on it (on goroutines
		// in a write, on the event loop with bytes in hand).
		for deadline := time.Now().Add(waitGuard); counters.ClientToServer.Load() < 1<<20 || counters.ServerToClient.Load() == 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the relay did not move 1 MiB up and some down")
			}
		}
		if mode.Goroutines {
			time.Sleep(200 * time.Millisecond)
		} else {
			waitHolding(t, h, sideServer)
		}
		type detached struct {
			c, s *os.File
			err  error
		}
		result := make(chan detached, 1)
		go func() { c, s, err := h.Detach(); result <- detached{c, s, err} }()
		time.Sleep(100 * time.Millisecond) // Detach waits for the client to take them
		close(clientReads)
		r := receive(t, result)
		close(moved)
		if r.err != nil {
			t.Fatal(r.err)
		}
		defer r.c.Close()
		defer r.s.Close()
		st := receive(t, first)
		if st.End != "handed over" || st.ClientToServer != counters.ClientToServer.Load() || st.ServerToClient != counters.ServerToClient.Load() {
			t.Errorf("done got %+v, want End \"handed over\" and the counters %d/%d", st, counters.ClientToServer.Load(), counters.ServerToClient.Load())
		}
		if _, _, err := h.Detach(); !errors.Is(err, ErrNotDetachable) {
			t.Errorf("second Detach: %v, want ErrNotDetachable", err)
		}
		h.Close("too late")               // no effect on a detached relay
		time.Sleep(50 * time.Millisecond) // the peers go on writing into the kernel's buffers meanwhile

		second := make(chan RelayStats, 1)
		resumeFiles(t, r.c, r.s, cfg, func(st RelayStats) { second <- st })
		sr, cr := receive(t, atServer), receive(t, atClient)
		if sr.err != nil || cr.err != nil {
			t.Fatalf("read errors: server %v, client %v", sr.err, cr.err)
		}
		if !bytes.Equal(sr.data, up) || !bytes.Equal(cr.data, down) {
			t.Fatalf("received %d/%d bytes differing from the %d/%d sent", len(sr.data), len(cr.data), len(up), len(down))
		}
		st2 := receive(t, second)
		if st.ClientToServer+st2.ClientToServer != int64(len(up)) || st.ServerToClient+st2.ServerToClient != int64(len(down)) {
			t.Errorf("counted %d+%d / %d+%d, want %d/%d", st.ClientToServer, st2.ClientToServer, st.ServerToClient, st2.ServerToClient, len(up), len(down))
		}
		if got := counters.ClientToServer.Load(); got != int64(len(up)) {
			t.Errorf("Counters.ClientToServer %d, want %d", got, len(up))
		}
		select {
		case st := <-first:
			t.Errorf("done called twice for the detached relay: %+v", st)
		default:
		}
	})
}

// A half-closed relay is not detached (it finishes here, within the linger)
// and goes on untouched.
func TestDetachRefusedAfterHalfClose(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode RelayConfig) {
		rig := startTCPRelayHandle(t, mode)
		rig.clientApp.Write([]byte("request"))
		rig.clientApp.(closeWriter).CloseWrite()
		got, err := io.ReadAll(rig.serverApp)
		if err != nil || string(got) != "request" {
			t.Fatalf("server read %q, %v", got, err)
		}
		if _, _, err := rig.h.Detach(); !errors.Is(err, ErrNotDetachable) {
			t.Fatalf("Detach of a half-closed relay: %v, want ErrNotDetachable", err)
		}
		rig.serverApp.Write([]byte("late reply"))
		rig.serverApp.Close()
		got, err = io.ReadAll(rig.clientApp)
		if err != nil || string(got) != "late reply" {
			t.Fatalf("client read %q, %v", got, err)
		}
		st := receive(t, rig.done)
		if st.End != "client closed" || st.ServerToClient != 10 || st.ClientToServer != 7 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// A destination that does not drain in time: Detach gives up and the relay
// goes on, losing nothing.
func TestDetachTimeoutRelayGoesOn(t *testing.T) {
	rig := startTCPRelayHandle(t, RelayConfig{SndBuf: 64 << 10})
	// Small buffers so the kernel cannot absorb the stream, but windows
	// well above loopback's 64 KiB segment (smaller ones make TCP crawl).
	rig.clientApp.(*net.TCPConn).SetReadBuffer(256 << 10)
	data := randomStream(rand.New(rand.NewPCG(5, 6)), 8<<20)
	errc := make(chan error, 1)
	go sendAndHalfClose(rig.serverApp, data, errc)
	// A wait of 0 gives up at once if the relay holds bytes. The kernel takes
	// a few more now and then (window updates while the client is full), so
	// the relay may just have written what it held: then it is detached,
	// resumed, and tried again.
	h, done := rig.h, rig.done
	for attempt := 0; ; attempt++ {
		waitHolding(t, h, sideServer)
		c, s, err := h.r.detach(0)
		if errors.Is(err, ErrDetachTimeout) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if attempt == 20 {
			t.Fatal("Detach never found the relay holding bytes")
		}
		receive(t, done)
		done = make(chan RelayStats, 1)
		h = resumeFiles(t, c, s, RelayConfig{}, func(st RelayStats) { done <- st })
		c.Close()
		s.Close()
	}
	got, err := io.ReadAll(rig.clientApp)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("client got %d bytes (%v), want the %d sent", len(got), err, len(data))
	}
	if err := receive(t, errc); err != nil {
		t.Fatal(err)
	}
	rig.clientApp.Close()
	if st := receive(t, done); st.End != "server closed" {
		t.Fatalf("End %q", st.End)
	}
}

// Only a TCP↔TCP relay past inspect can be detached; a refused Detach leaves
// it running.
func TestDetachRefused(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode RelayConfig) {
		// inspect must not block (on the event loop it runs on the loop's
		// goroutine): it says "go on" until the test lets it finish.
		var finish atomic.Bool
		inspected := make(chan struct{}, 2)
		clientApp, clientEdge := tcpPair(t)
		serverEdge, serverApp := tcpPair(t)
		done := make(chan RelayStats, 1)
		h := Start(clientEdge, serverEdge, mode, func([]byte) bool {
			inspected <- struct{}{}
			return finish.Load()
		}, func(st RelayStats) { done <- st })
		clientApp.Write([]byte("x"))
		receive(t, inspected)
		if _, _, err := h.Detach(); !errors.Is(err, ErrNotDetachable) {
			t.Errorf("Detach while inspecting: %v, want ErrNotDetachable", err)
		}
		finish.Store(true)
		clientApp.Write([]byte("y"))
		receive(t, inspected)
		xy := make([]byte, 2)
		if _, err := io.ReadFull(serverApp, xy); err != nil || string(xy) != "xy" {
			t.Fatalf("server read %q, %v", xy, err)
		}
		carry(t, clientApp, serverApp, []byte("after inspect"))
		carry(t, serverApp, clientApp, []byte("reply"))
		if c, s, err := h.Detach(); err != nil {
			t.Errorf("Detach after inspect: %v", err)
		} else {
			c.Close()
			s.Close()
			if st := receive(t, done); st.End != "handed over" {
				t.Errorf("End %q", st.End)
			}
		}

		// Not TCP (a tunnel conn stands in).
		pipeApp, pipeEdge := net.Pipe()
		serverEdge2, serverApp2 := tcpPair(t)
		done2 := make(chan RelayStats, 1)
		h2 := Start(pipeEdge, serverEdge2, mode, nil, func(st RelayStats) { done2 <- st })
		if _, _, err := h2.Detach(); !errors.Is(err, ErrNotDetachable) {
			t.Errorf("Detach of a non-TCP relay: %v, want ErrNotDetachable", err)
		}
		go pipeApp.Write([]byte("still relaying"))
		got := make([]byte, len("still relaying"))
		if _, err := io.ReadFull(serverApp2, got); err != nil {
			t.Fatalf("the refused relay stopped: %v", err)
		}
		h2.Close("over")
		if st := receive(t, done2); st.End != "over" {
			t.Errorf("End %q", st.End)
		}
		pipeApp.Close()

		// Closed already.
		rig := startTCPRelayHandle(t, mode)
		rig.h.Close("over")
		if _, _, err := rig.h.Detach(); !errors.Is(err, ErrNotDetachable) {
			t.Errorf("Detach after Close: %v, want ErrNotDetachable", err)
		}
		receive(t, rig.done)
	})
}

// waitHolding waits until the direction from side holds bytes its destination
// has not taken (looked at under the session's lock, so never between a
// write and the read that follows it).
func waitHolding(t *testing.T, h *Relaying, from int) {
	t.Helper()
	for deadline := time.Now().Add(waitGuard); ; time.Sleep(5 * time.Millisecond) {
		h.r.mu.Lock()
		s := h.r.ev
		h.r.mu.Unlock()
		if s != nil {
			s.mu.Lock()
			holding := s.dirs[from].pending
			s.mu.Unlock()
			if holding {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the relay never held bytes from the %s", sideName[from])
		}
	}
}

type handleRig struct {
	clientApp, serverApp net.Conn
	h                    *Relaying
	done                 chan RelayStats
}

func startTCPRelayHandle(t *testing.T, cfg RelayConfig) *handleRig {
	clientApp, clientEdge := tcpPair(t)
	serverEdge, serverApp := tcpPair(t)
	rig := &handleRig{clientApp: clientApp, serverApp: serverApp, done: make(chan RelayStats, 1)}
	rig.h = Start(clientEdge, serverEdge, cfg, nil, func(st RelayStats) { rig.done <- st })
	return rig
}
