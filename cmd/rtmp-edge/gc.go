package main

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The collector's settings. Go lets the heap grow by GOGC per cent of what is
// live (heap and goroutine stacks) before it collects again, and RSS follows
// that peak. An edge's live memory is mostly long-lived session state, so the
// headroom is pure cost per session: at 8000 idle RTMPT tunnels (about 10.7 KB
// live each) a flat 70 % was 7 KiB of every tunnel's 19.8 KiB of RSS.
// Headroom is what makes collections rare, and collections cost CPU in
// proportion to how often they run, so the edge keeps the headroom near a
// fixed amount instead: GOGC 70 while that is at most headroomBudget (small
// heaps, where a set-up storm makes garbage fast and a lower setting costs
// session rate), less as the live memory grows, never under minGCPercent.
// A large live memory of quiet sessions makes little garbage, so collecting
// every headroomBudget of it costs little. Measured with bench/run.sh (8000
// idle sessions): RSS per idle RTMP session 3.47 → 2.74–2.96 KiB (HAProxy
// 3.34), per idle RTMPT tunnel 19.8 → 17.7 KiB, the session rate unchanged
// (small heaps stay at 70). GOGC or GOMEMLIMIT in the environment turn all
// of this off: the operator's setting stands.
const (
	defaultGCPercent = 70
	minGCPercent     = 10
	headroomBudget   = 4 << 20
	gcTunePeriod     = 250 * time.Millisecond
)

// gcPercentFor is the GOGC for live bytes of heap and stacks.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return defaultGCPercent
	}
	p := uint64(headroomBudget) * 100 / live
	return int(min(max(p, minGCPercent), defaultGCPercent))
}

// tuneGC sets the collector up and, unless the environment set it, keeps
// adjusting it to the live memory (see above) until the process exits.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return
	}
	debug.SetGCPercent(defaultGCPercent)
	go func() {
		samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}}
		cur := defaultGCPercent
		for range time.Tick(gcTunePeriod) {
			metrics.Read(samples)
			var live uint64
			for _, s := range samples {
				if s.Value.Kind() == metrics.KindUint64 {
					live += s.Value.Uint64()
				}
			}
			if p := gcPercentFor(live); p != cur {
				debug.SetGCPercent(p)
				cur = p
			}
		}
	}()
}
