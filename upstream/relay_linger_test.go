package upstream

import (
	"io"
	"testing"
	"time"
)

// A media server that sent its FIN (killed, restarted) has ended the stream:
// RTMP has no half-close, so a player that keeps its socket open and waits for
// more does not keep the session beyond ServerCloseLinger. What the server sent
// before its FIN still reaches the client, then the client's EOF.
func TestRelayServerCloseLinger(t *testing.T) {
	forEachMode(t, func(t *testing.T, cfg RelayConfig) {
		cfg.ServerCloseLinger = 100 * time.Millisecond
		cfg.IdleTimeout = time.Hour
		rig := startTCPRelay(t, cfg, nil)
		go io.Copy(io.Discard, rig.serverApp)
		// The player keeps its side open and goes on sending (acknowledgements).
		go func() {
			for {
				if _, err := rig.clientApp.Write([]byte("ack")); err != nil {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
		read := make(chan []byte, 1)
		go func() { b, _ := io.ReadAll(rig.clientApp); read <- b }()
		rig.serverApp.Write([]byte("last frame"))
		// A half-close, so that the client's writes still succeed and only the
		// linger can end the session (a killed server's socket answers them
		// with a reset, which would end it anyway).
		rig.serverApp.(closeWriter).CloseWrite()

		stats := receive(t, rig.done)
		if stats.End != "server closed" {
			t.Fatalf("End %q, want \"server closed\"", stats.End)
		}
		if got := receive(t, read); string(got) != "last frame" {
			t.Errorf("client read %q, want \"last frame\" then EOF", got)
		}
		if stats.ServerToClient != 10 {
			t.Errorf("ServerToClient %d, want 10", stats.ServerToClient)
		}
	})
}

// The default linger applies (a zero RelayConfig is what most callers pass).
func TestRelayServerCloseLingerDefault(t *testing.T) {
	forEachMode(t, func(t *testing.T, cfg RelayConfig) {
		cfg.IdleTimeout = time.Hour
		rig := startTCPRelay(t, cfg, nil)
		rig.serverApp.Close()
		if stats := receive(t, rig.done); stats.End != "server closed" {
			t.Fatalf("End %q, want \"server closed\"", stats.End)
		}
	})
}
