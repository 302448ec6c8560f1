package upstream

import "testing"

// forEachMode runs a relay test once per way the relay can carry a TCP↔TCP
// session (on Linux the event loop is the default; Goroutines is the other
// way, which every non-TCP conn takes), so both keep the same semantics.
func forEachMode(t *testing.T, test func(t *testing.T, cfg RelayConfig)) {
	t.Run("default", func(t *testing.T) { test(t, RelayConfig{}) })
	t.Run("goroutines", func(t *testing.T) { test(t, RelayConfig{Goroutines: true}) })
}
