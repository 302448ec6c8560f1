//go:build linux

package upstream

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// passFDs sends fds over a Unix socket pair with SCM_RIGHTS and returns the
// received copies, closing the originals: what a handover to another process
// does with them.
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
	for _, fd := range fds {
		unix.Close(fd)
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

// stream sends data in random chunks then half-closes, and reads everything
// the other end sends, in the background, once gate is closed.
func stream(c net.Conn, data []byte, seed uint64, gate <-chan struct{}) <-chan streamResult {
	out := make(chan streamResult, 1)
	go sendChunks(c, data, seed, true)
	go func() {
		<-gate
		b, err := readAllWithin(c)
		out <- streamResult{b, err}
	}()
	return out
}

// Detach in the middle of two streams, the sockets passed over SCM_RIGHTS,
// Resume: both sides receive every byte exactly once, in order, and the
// counters of the two halves add up.
func TestDetachResumeMidStream(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	up, down := randomStream(rng, 4<<20), randomStream(rng, 8<<20)
	clientApp, clientEdge := tcpPair(t)
	serverEdge, serverApp := tcpPair(t)
	// Client-side buffers far smaller than the stream (windows still above
	// loopback's 64 KiB segment), so that the relay has to hold bytes.
	clientApp.SetReadBuffer(256 << 10)
	counters := new(Counters)
	first := make(chan RelayStats, 1)
	h := Start(clientEdge, serverEdge, RelayConfig{Counters: counters, SndBuf: 64 << 10}, nil, func(st RelayStats) { first <- st })
	open, clientReads := make(chan struct{}), make(chan struct{})
	close(open)
	atServer := stream(serverApp, down, 3, open)
	atClient := stream(clientApp, up, 4, clientReads)

	// The client reads nothing yet: once its buffers are full, the relay
	// holds bytes for it, which Detach must see written before it returns.
	waitHolding(t, h, sideServer)
	for deadline := time.Now().Add(waitGuard); counters.ClientToServer.Load() < 1<<20; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the relay did not move 1 MiB up")
		}
	}
	type detached struct {
		d   *Detached
		err error
	}
	result := make(chan detached, 1)
	go func() { d, err := h.Detach(waitGuard); result <- detached{d, err} }()
	// Detach now waits for the client to take what the relay holds (unless
	// a window update lets the kernel take the few bytes meanwhile).
	time.Sleep(100 * time.Millisecond)
	close(clientReads)
	r := receive(t, result)
	d, err := r.d, r.err
	if err != nil {
		t.Fatal(err)
	}
	if d.ClientToServer != counters.ClientToServer.Load() || d.ServerToClient != counters.ServerToClient.Load() {
		t.Errorf("detached counts %d/%d, counters %d/%d", d.ClientToServer, d.ServerToClient, counters.ClientToServer.Load(), counters.ServerToClient.Load())
	}
	if _, err := h.Detach(time.Second); !errors.Is(err, ErrRelayEnded) {
		t.Errorf("second Detach: %v, want ErrRelayEnded", err)
	}
	h.Close("too late") // no effect on a detached relay
	fds := passFDs(t, d.ClientFD, d.ServerFD)
	d.ClientFD, d.ServerFD = fds[0], fds[1]
	time.Sleep(50 * time.Millisecond) // the peers go on writing into the kernel's buffers meanwhile

	second := make(chan RelayStats, 1)
	if _, err := Resume(d, RelayConfig{Counters: counters, SndBuf: 64 << 10}, func(st RelayStats) { second <- st }); err != nil {
		t.Fatal(err)
	}
	s, c := receive(t, atServer), receive(t, atClient)
	if s.err != nil || c.err != nil {
		t.Fatalf("read errors: server %v, client %v", s.err, c.err)
	}
	if !bytes.Equal(s.data, up) || !bytes.Equal(c.data, down) {
		t.Fatalf("received %d/%d bytes differing from the %d/%d sent", len(s.data), len(c.data), len(up), len(down))
	}
	st := receive(t, second)
	if d.ClientToServer+st.ClientToServer != int64(len(up)) || d.ServerToClient+st.ServerToClient != int64(len(down)) {
		t.Errorf("counted %d+%d / %d+%d, want %d/%d", d.ClientToServer, st.ClientToServer, d.ServerToClient, st.ServerToClient, len(up), len(down))
	}
	if got := counters.ClientToServer.Load(); got != int64(len(up)) {
		t.Errorf("Counters.ClientToServer %d, want %d", got, len(up))
	}
	select {
	case st := <-first:
		t.Errorf("done called for the detached relay: %+v", st)
	default:
	}
}

// A half-closed session moves with its half-close: the client's direction
// stays over, the server's goes on, and the first end reason is kept.
func TestDetachResumeAfterHalfClose(t *testing.T) {
	rig := startTCPRelayHandle(t, RelayConfig{})
	rig.clientApp.Write([]byte("request"))
	rig.clientApp.(closeWriter).CloseWrite()
	got, err := io.ReadAll(rig.serverApp)
	if err != nil || string(got) != "request" {
		t.Fatalf("server read %q, %v", got, err)
	}
	d, err := rig.h.Detach(waitGuard)
	if err != nil {
		t.Fatal(err)
	}
	if !d.ClientClosed || d.ServerClosed || d.End != "client closed" {
		t.Fatalf("detached %+v, want the client's half-close only", d)
	}
	done := make(chan RelayStats, 1)
	if _, err := Resume(d, RelayConfig{}, func(st RelayStats) { done <- st }); err != nil {
		t.Fatal(err)
	}
	rig.serverApp.Write([]byte("late reply"))
	rig.serverApp.Close()
	got, err = io.ReadAll(rig.clientApp)
	if err != nil || string(got) != "late reply" {
		t.Fatalf("client read %q, %v", got, err)
	}
	st := receive(t, done)
	if st.End != "client closed" || st.ServerToClient != 10 || st.ClientToServer != 0 {
		t.Fatalf("stats after resume %+v", st)
	}
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
	// Detach(0) gives up at once if the relay holds bytes. The kernel takes a
	// few more now and then (window updates while the client is full), so
	// the relay may just have written what it held: then it is detached,
	// resumed, and tried again.
	h, done := rig.h, rig.done
	for attempt := 0; ; attempt++ {
		waitHolding(t, h, sideServer)
		d, err := h.Detach(0)
		if errors.Is(err, ErrDetachTimeout) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if attempt == 20 {
			t.Fatal("Detach(0) never found the relay holding bytes")
		}
		done = make(chan RelayStats, 1)
		if h, err = Resume(d, RelayConfig{}, func(st RelayStats) { done <- st }); err != nil {
			t.Fatal(err)
		}
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

// Only a relay on the event loop can be detached.
func TestDetachNeedsTheEventLoop(t *testing.T) {
	var mu sync.Mutex
	mu.Lock() // inspect blocks until the test is done with the inspect phase
	inspectStarted := make(chan struct{})
	clientApp, clientEdge := tcpPair(t)
	serverEdge, serverApp := tcpPair(t)
	done := make(chan RelayStats, 1)
	h := Start(clientEdge, serverEdge, RelayConfig{}, func([]byte) bool {
		close(inspectStarted)
		mu.Lock()
		defer mu.Unlock()
		return true
	}, func(st RelayStats) { done <- st })
	clientApp.Write([]byte("x"))
	receive(t, inspectStarted)
	if _, err := h.Detach(time.Second); !errors.Is(err, ErrNotDetachable) {
		t.Errorf("Detach while inspecting: %v, want ErrNotDetachable", err)
	}
	mu.Unlock()
	x := make([]byte, 1)
	if _, err := io.ReadFull(serverApp, x); err != nil {
		t.Fatal(err)
	}
	carry(t, clientApp, serverApp, []byte("after inspect")) // handed over by now
	if d, err := h.Detach(waitGuard); err != nil {
		t.Errorf("Detach after the handover: %v", err)
	} else {
		unix.Close(d.ClientFD)
		unix.Close(d.ServerFD)
	}
	select {
	case st := <-done:
		t.Errorf("done called for a detached relay: %+v", st)
	case <-time.After(50 * time.Millisecond):
	}

	clientApp2, clientEdge2 := tcpPair(t)
	serverEdge2, _ := tcpPair(t)
	h2 := Start(clientEdge2, serverEdge2, RelayConfig{Goroutines: true}, nil, nil)
	if _, err := h2.Detach(time.Second); !errors.Is(err, ErrNotDetachable) {
		t.Errorf("Detach on goroutines: %v, want ErrNotDetachable", err)
	}
	h2.Close("over")
	clientApp2.Close()
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
