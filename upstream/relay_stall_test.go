package upstream

import (
	"io"
	"net"
	"testing"
	"time"
)

// streamUntilError writes chunks to c until a write fails (the relay closed it).
func streamUntilError(c net.Conn) {
	chunk := make([]byte, 32<<10)
	for {
		if _, err := c.Write(chunk); err != nil {
			return
		}
	}
}

// A viewer that stops reading: the server streams, the client app reads
// nothing. The relay must end the session once the client has accepted no
// byte for WriteTimeout, well before the idle timeout (the server direction
// is busy, so the session is never idle at all).
func TestRelayWriteTimeoutClientStalled(t *testing.T) {
	forEachMode(t, func(t *testing.T, cfg RelayConfig) {
		cfg.WriteTimeout = 200 * time.Millisecond
		cfg.IdleTimeout = time.Hour
		cfg.SndBuf = 16 << 10 // fills sooner; the timeout does not depend on it
		rig := startTCPRelay(t, cfg, nil)
		rig.clientApp.(*net.TCPConn).SetReadBuffer(8 << 10)
		go streamUntilError(rig.serverApp)
		stats := receive(t, rig.done)
		if stats.End != "client stalled" {
			t.Fatalf("End %q, want \"client stalled\"", stats.End)
		}
		if stats.ServerToClient == 0 {
			t.Error("nothing reached the client before the stall")
		}
	})
}

// A media server that hangs (accepts no more bytes) while the client sends.
func TestRelayWriteTimeoutServerStalled(t *testing.T) {
	forEachMode(t, func(t *testing.T, cfg RelayConfig) {
		cfg.WriteTimeout = 200 * time.Millisecond
		cfg.IdleTimeout = time.Hour
		rig := startTCPRelay(t, cfg, nil)
		rig.serverApp.(*net.TCPConn).SetReadBuffer(8 << 10)
		go streamUntilError(rig.clientApp)
		stats := receive(t, rig.done)
		if stats.End != "server stalled" {
			t.Fatalf("End %q, want \"server stalled\"", stats.End)
		}
	})
}

// A stall after the other direction already ended (the client half-closed,
// the server keeps streaming to a client that does not read): the case that
// used to hold a relay until the peer went away.
func TestRelayWriteTimeoutAfterHalfClose(t *testing.T) {
	forEachMode(t, func(t *testing.T, cfg RelayConfig) {
		cfg.WriteTimeout = 200 * time.Millisecond
		cfg.IdleTimeout = -1
		cfg.ClientCloseLinger = -1 // the stall must end it
		rig := startTCPRelay(t, cfg, nil)
		rig.clientApp.(*net.TCPConn).SetReadBuffer(8 << 10)
		rig.clientApp.(closeWriter).CloseWrite()
		go io.Copy(io.Discard, rig.serverApp)
		go streamUntilError(rig.serverApp)
		stats := receive(t, rig.done)
		if stats.End != "client closed" {
			t.Fatalf("End %q, want \"client closed\" (the first reason)", stats.End)
		}
	})
}

// WriteTimeout does not cut a peer that reads: a player receiving a stream
// with pauses between messages, each pause longer than WriteTimeout. (The
// timeout is generous so that a loaded machine's scheduling delays do not
// look like a stalled reader.)
func TestRelayWriteTimeoutSparesReaders(t *testing.T) {
	forEachMode(t, func(t *testing.T, cfg RelayConfig) {
		cfg.WriteTimeout = 500 * time.Millisecond
		rig := startTCPRelay(t, cfg, nil)
		go func() { io.Copy(io.Discard, rig.clientApp); rig.clientApp.Close() }()
		const writes, size = 3, 100 << 10
		for range writes {
			if _, err := rig.serverApp.Write(make([]byte, size)); err != nil {
				t.Fatalf("server write: %v (relay ended early?)", err)
			}
			time.Sleep(cfg.WriteTimeout + 100*time.Millisecond)
		}
		rig.serverApp.Close()
		stats := receive(t, rig.done)
		if stats.End != "server closed" {
			t.Fatalf("End %q, want \"server closed\"", stats.End)
		}
		if stats.ServerToClient != writes*size {
			t.Errorf("ServerToClient %d, want %d", stats.ServerToClient, writes*size)
		}
	})
}

// A client that sent its FIN is gone (RTMP has no half-close): a server that
// keeps its side open does not keep the session beyond ClientCloseLinger.
func TestRelayClientCloseLinger(t *testing.T) {
	forEachMode(t, func(t *testing.T, cfg RelayConfig) {
		cfg.ClientCloseLinger = 100 * time.Millisecond
		cfg.IdleTimeout = time.Hour
		rig := startTCPRelay(t, cfg, nil)
		go io.Copy(io.Discard, rig.clientApp)
		rig.clientApp.Write([]byte("bye"))
		rig.clientApp.(closeWriter).CloseWrite()
		// The server keeps streaming and never closes.
		go func() {
			for {
				if _, err := rig.serverApp.Write([]byte("media")); err != nil {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
		stats := receive(t, rig.done)
		if stats.End != "client closed" {
			t.Fatalf("End %q, want \"client closed\"", stats.End)
		}
	})
}
