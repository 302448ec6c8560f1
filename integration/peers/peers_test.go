package peers

import "testing"

func TestMissingPackages(t *testing.T) {
	got := missingPackages([]string{"sh", "/nonexistent/rtmp-edge-test-file", "no-such-command-rtmp-edge"})
	want := []string{"/nonexistent/rtmp-edge-test-file", "no-such-command-rtmp-edge"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("missingPackages = %v, want %v", got, want)
	}
	if got := missingPackages([]string{"sh"}); len(got) != 0 {
		t.Fatalf("sh is present but reported missing: %v", got)
	}
}
