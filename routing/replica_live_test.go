package routing

import (
	"slices"
	"strings"
	"testing"
)

// Replicas the edge publishes to join the stream's live set while marked
// live, and leave it when unmarked: players spread by weight over origin +
// live replicas, and the registry lists them.
func TestReplicaLiveMarks(t *testing.T) {
	p := newTestPool(t, nil)
	pub := publishStream(t, p, "127.0.0.2", demo, "pub")
	if pub.Server.Name != "media03" {
		t.Fatalf("publisher on %s", pub.Server)
	}
	pub.SetReplicaLive("media01", true)
	pub.SetReplicaLive("media02", true)
	pub.SetReplicaLive("media02", true) // idempotent
	pub.SetReplicaLive("media03", true) // its own server: nothing
	info, ok := p.Stream(demo)
	if !ok || names(info.Replicas) != "media01,media02" || names(info.Servers) != "media01,media02,media03" {
		t.Fatalf("stream info %+v", info)
	}
	gotServer, gotReason := players(t, p, demo, 28)
	if want := map[string]int{"media01": 10, "media02": 10, "media03": 8}; !mapsEqual(gotServer, want) {
		t.Errorf("28 players on %v, want %v", gotServer, want)
	}
	if want := map[string]int{"replica of media03": 20, "live on media03": 8}; !mapsEqual(gotReason, want) {
		t.Errorf("reasons %v, want %v", gotReason, want)
	}

	// media01 lost the stream (its replica dropped): new players avoid it.
	pub.SetReplicaLive("media01", false)
	info, _ = p.Stream(demo)
	if names(info.Replicas) != "media02" {
		t.Fatalf("replicas after media01 ended: %v", names(info.Replicas))
	}
	gotServer, _ = players(t, p, demo, 18)
	if want := map[string]int{"media02": 10, "media03": 8}; !mapsEqual(gotServer, want) {
		t.Errorf("18 players on %v, want %v", gotServer, want)
	}

	// Released: the marks go with the stream, and later marks do nothing.
	pub.Release()
	pub.SetReplicaLive("media01", true)
	if _, ok := p.Stream(demo); ok {
		t.Fatal("stream still live after its publisher's release")
	}
}

// Affinity holds among origin + live replicas: a client stuck to a live
// replica goes back to it; stuck to a server without the stream, it does not.
func TestReplicaLiveAffinity(t *testing.T) {
	p := newTestPool(t, withStick)
	pub := publishStream(t, p, "127.0.0.2", demo, "pub")
	pub.SetReplicaLive("media02", true)
	stickTo(t, p, addr("127.0.50.1"), "media02")
	stickTo(t, p, addr("127.0.50.2"), "media01")
	l := mustAcquire(t, p, Request{Client: addr("127.0.50.1"), Kind: Play, Stream: demo})
	defer l.Release()
	if l.Server.Name != "media02" || l.Reason != "stick (replica of media03)" {
		t.Errorf("stuck to a live replica: %s (%q)", l.Server, l.Reason)
	}
	l2 := mustAcquire(t, p, Request{Client: addr("127.0.50.2"), Kind: Play, Stream: demo})
	defer l2.Release()
	if l2.Server.Name == "media01" {
		t.Errorf("stuck to media01, which does not have the stream, and sent there (%q)", l2.Reason)
	}
}

// Only the newest publish of a stream decides where players go; a mark on an
// older one (a duplicate being refused) does not spread them.
func TestReplicaLiveMarksOfTheNewestPublish(t *testing.T) {
	p := newTestPool(t, nil)
	old := publishStream(t, p, "127.0.0.2", demo, "old")
	newer := publishStream(t, p, "127.0.0.3", demo, "new")
	old.SetReplicaLive("media01", true)
	if info, _ := p.Stream(demo); len(info.Replicas) != 0 {
		t.Fatalf("an older publish's replica listed: %v", names(info.Replicas))
	}
	newer.SetReplicaLive("media02", true)
	if info, _ := p.Stream(demo); names(info.Replicas) != "media02" {
		t.Fatalf("replicas %v", names(info.Replicas))
	}
}

func names(servers []*Server) string {
	out := make([]string, 0, len(servers))
	for _, s := range servers {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}
