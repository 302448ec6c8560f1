package main

import "testing"

func TestGCPercentKeepsTheHeadroomNearTheBudget(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, defaultGCPercent},       // nothing read yet
		{1 << 20, defaultGCPercent}, // small heaps: 70, headroom under the budget
		{headroomBudget * 100 / defaultGCPercent, defaultGCPercent},
		{16 << 20, 25}, // 4 MiB of headroom over 16 MiB live
		{32 << 20, 12},
		{86 << 20, minGCPercent}, // 8000 idle tunnels: the floor
		{4 << 30, minGCPercent},
	} {
		if got := gcPercentFor(tc.live); got != tc.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}
