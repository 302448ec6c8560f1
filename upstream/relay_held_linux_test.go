//go:build linux

package upstream

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// A player that stops reading while its server sends small messages: the
// relay holds what the full socket refused and, once the player reads again,
// delivers every byte in order.
func TestHeldBytesDeliveredInOrder(t *testing.T) {
	// A small send buffer on the edge's player socket fills after a few
	// messages.
	rig := startTCPRelay(t, RelayConfig{SndBuf: 4096}, nil)
	msg := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 700) }
	const count = 1500
	var want bytes.Buffer
	for i := range count {
		want.Write(msg(i))
	}
	errc := make(chan error, 1)
	go func() {
		for i := range count {
			if _, err := rig.serverApp.Write(msg(i)); err != nil {
				errc <- err
				return
			}
			// One message at a time, as a live stream sends them: each read
			// of the relay takes one, so what a full socket refuses is small.
			time.Sleep(500 * time.Microsecond)
		}
		errc <- nil
	}()
	time.Sleep(500 * time.Millisecond) // not an assertion: lets the player's side fill up first
	got := make([]byte, want.Len())
	_ = rig.clientApp.SetReadDeadline(time.Now().Add(waitGuard))
	if _, err := io.ReadFull(rig.clientApp, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		for i := range got {
			if got[i] != want.Bytes()[i] {
				t.Fatalf("byte %d differs: %d, want %d", i, got[i], want.Bytes()[i])
			}
		}
	}
}
