package main

import (
	"runtime/debug"
	"testing"
)

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

// An operator's GOGC or GOMEMLIMIT stands: tuneGC leaves the collector alone.
func TestTuneGCLeavesTheEnvironmentsSetting(t *testing.T) {
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, "100")
			prev := debug.SetGCPercent(55)
			defer debug.SetGCPercent(prev)
			tuneGC()
			if got := debug.SetGCPercent(55); got != 55 {
				t.Fatalf("with %s set, tuneGC changed GOGC from 55 to %d", env, got)
			}
		})
	}
}
