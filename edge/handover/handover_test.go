package handover

import (
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func TestSendRecvWithFiles(t *testing.T) {
	old, child, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	peer, err := fromFile(child)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	type body struct{ ID string }
	if err := old.Send("session", body{"abc"}, r, w); err != nil {
		t.Fatal(err)
	}
	r.Close()
	w.Close() // the receiver holds its own copies
	var got body
	files, err := peer.Expect("session", time.Now().Add(5*time.Second), &got)
	if err != nil {
		t.Fatal(err)
	}
	defer CloseFiles(files)
	if got.ID != "abc" || len(files) != 2 {
		t.Fatalf("got %+v with %d files, want abc with 2", got, len(files))
	}
	if _, err := files[1].Write([]byte("through the passed pipe")); err != nil {
		t.Fatal(err)
	}
	files[1].Close()
	b, _ := io.ReadAll(files[0])
	if string(b) != "through the passed pipe" {
		t.Fatalf("read %q through the passed descriptors", b)
	}
}

func TestExpectWrongKindAndClosedPeer(t *testing.T) {
	old, child, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	peer, err := fromFile(child)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Send("hello", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Expect("ready", time.Now().Add(5*time.Second), nil); err == nil || !strings.Contains(err.Error(), `got "hello"`) {
		t.Fatalf("wrong kind: %v", err)
	}
	old.Close()
	if _, err := peer.Recv(time.Now().Add(5 * time.Second)); err == nil {
		t.Fatal("Recv after the peer closed: no error")
	}
	if _, err := peer.Recv(time.Now().Add(-time.Second)); err == nil {
		t.Fatal("Recv past its deadline: no error")
	}
}

func TestSendRefusesWhatCannotBeReceived(t *testing.T) {
	old, child, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	child.Close()
	if err := old.Send("big", strings.Repeat("x", MaxMessage)); err == nil {
		t.Fatal("a message over MaxMessage was sent")
	}
	files := make([]*os.File, maxFiles+1)
	for i := range files {
		files[i] = os.Stdin
	}
	if err := old.Send("many", nil, files...); err == nil {
		t.Fatal("more than maxFiles descriptors were sent")
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv(EnvFD, "")
	os.Unsetenv(EnvFD)
	if ch, err := FromEnv(); ch != nil || err != nil {
		t.Fatalf("without %s: %v, %v", EnvFD, ch, err)
	}
	t.Setenv(EnvFD, "x")
	if _, err := FromEnv(); err == nil {
		t.Fatal("a bad descriptor number was accepted")
	}
}
