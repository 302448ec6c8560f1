package routing

import "testing"

func TestKindStringAndParse(t *testing.T) {
	tests := []struct {
		kind Kind
		want string
	}{
		{Play, "play"},
		{Publish, "publish"},
		{Kind(7), "kind(7)"},
	}
	for _, tt := range tests {
		if got := tt.kind.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q, want %q", tt.kind, got, tt.want)
		}
	}
	for _, k := range []Kind{Play, Publish} {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", k.String(), got, err, k)
		}
	}
	for _, bad := range []string{"", "Play", "PUBLISH", "watch", "kind(7)"} {
		if _, err := ParseKind(bad); err == nil {
			t.Errorf("ParseKind(%q) succeeded, want an error", bad)
		}
	}
}
