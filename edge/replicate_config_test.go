package edge

import (
	"slices"
	"testing"
)

// to: all is every server but the publish's own; a list is those of its
// names that are not the publish's own, in the backend's order.
func TestReplicateTargets(t *testing.T) {
	servers := []string{"media01", "media02", "media03"}
	all := &ReplicateConfig{To: ReplicateToAll()}
	if got := all.targets(servers, "media03"); !slices.Equal(got, []string{"media01", "media02"}) {
		t.Errorf("all from media03: %v", got)
	}
	named := &ReplicateConfig{To: ReplicateToNames("media03", "media01")}
	if got := named.targets(servers, "media03"); !slices.Equal(got, []string{"media01"}) {
		t.Errorf("[media03, media01] from media03: %v", got)
	}
	if got := named.targets(servers, "media02"); !slices.Equal(got, []string{"media01", "media03"}) {
		t.Errorf("[media03, media01] from media02: %v", got)
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"4MiB": 4 << 20, "512KiB": 512 << 10, "1GiB": 1 << 30, "65536": 65536, "7 MiB": 7 << 20, "10B": 10} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "4MB", "-1", "1.5MiB", "MiB", "99999999999999GiB", "4 mib"} {
		if got, err := ParseByteSize(in); err == nil {
			t.Errorf("%q accepted as %d", in, got)
		}
	}
}
