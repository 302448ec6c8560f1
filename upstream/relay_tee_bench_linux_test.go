//go:build linux

package upstream

import (
	"io"
	"testing"
)

// BenchmarkRelayTee is BenchmarkRelayTCP with and without a ClientTee that
// copies what it is shown (as the replication's intake does), in both relay
// paths: the price of reading and writing a teed direction instead of
// splicing it (relay_tee.go).
//
//	go test -run '^$' -bench 'RelayTee' -benchtime 2s -benchmem ./upstream
func BenchmarkRelayTee(b *testing.B) {
	for _, mode := range benchModes {
		for _, teed := range []bool{false, true} {
			name := mode.name + "/plain"
			if teed {
				name = mode.name + "/teed"
			}
			b.Run(name, func(b *testing.B) {
				const chunk = 1 << 20
				cfg := mode.cfg
				var seen int64
				if teed {
					intake := make([]byte, 4<<20)
					off := 0
					cfg.ClientTee = func(p []byte) {
						for len(p) > 0 {
							if off == len(intake) {
								off = 0
							}
							n := copy(intake[off:], p)
							off += n
							p = p[n:]
							seen += int64(n)
						}
					}
				}
				rig := startTCPRelay(b, cfg, nil)
				data := make([]byte, chunk)
				drained := make(chan int64, 1)
				go func() { n, _ := io.Copy(io.Discard, rig.serverApp); drained <- n }()
				b.SetBytes(chunk)
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := cpuTime()
				for b.Loop() {
					if _, err := rig.clientApp.Write(data); err != nil {
						b.Fatal(err)
					}
				}
				rig.clientApp.(closeWriter).CloseWrite()
				n := receive(b, drained)
				cpu := cpuTime() - cpu0
				b.StopTimer()
				b.ReportMetric(cpu.Seconds()/(float64(n)/1e9), "cpu-s/GB")
				rig.serverApp.Close()
				st := receive(b, rig.done)
				if st.ClientToServer != n || (teed && seen != n) {
					b.Fatalf("relay counted %d, server received %d, tee saw %d", st.ClientToServer, n, seen)
				}
			})
		}
	}
}
