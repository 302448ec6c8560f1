package load

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/rtmp-edge/rtmp-edge/cmd/rtmp-bench/internal/flvsrc"
)

// Bounds on a run: a bench stops by itself and cannot be asked for more than
// a machine could open.
const (
	MaxClients  = 200_000
	MaxDuration = 24 * time.Hour
)

// ErrBadConfig is returned by Config.Validate.
var ErrBadConfig = errors.New("bad load config")

// Config describes one load run.
type Config struct {
	PublishTargets []Target // publishers cycle through these
	PlayTargets    []Target // players cycle through these; empty means PublishTargets
	Stream         string   // stream name prefix: streams are <Stream>-0 .. <Stream>-<Streams-1>
	Streams        int      // 0 means max(Publishers, 1)
	Publishers     int      // streams 0..Publishers-1 get one publisher each
	Players        int      // players per stream

	FLV       *flvsrc.File // nil: a synthetic stream
	Bitrate   int          // bits/s per publisher; 0 = as fast as possible
	FPS, GOP  int          // synthetic stream shape (0 = 25 fps, GOP 2 s)
	ChunkSize int          // publishers' outgoing chunk size; 0 = 60000

	Sources        []netip.Addr  // client source addresses, cycled; empty = the OS chooses
	Ramp           float64       // clients started per second; 0 = all at once
	Duration       time.Duration // the whole run, ramp included
	ConnectTimeout time.Duration // handshake and each command; 0 = 10 s
	Idle           bool          // publishers send nothing after publish (mostly idle sessions)
	Reconnect      bool          // each client sets up sessions in a loop (session rate)
	Hold           time.Duration // with Reconnect: how long a session stays after setup
	RTMPTPoll      time.Duration // rtmpt clients: wait between empty polls; 0 = the rtmpt package default
	ReadBuffer     int           // each client's read buffer in bytes; 0 = rtmpraw.DefaultReadBuffer
	// ReadPause: a player that has parsed everything it read waits this long
	// before it reads again, so that one read takes what arrived meanwhile
	// (a player reading on its frame clock). 0 reads as soon as bytes arrive.
	ReadPause time.Duration
	// RetryPause is the wait after a failed session before the next; 0 = 100 ms.
	RetryPause time.Duration

	Progress time.Duration // progress line interval; 0 = none
}

// Validate checks the bounds and fills defaults.
func (c *Config) Validate() error {
	if len(c.PlayTargets) == 0 {
		c.PlayTargets = c.PublishTargets
	}
	if len(c.PublishTargets) == 0 && c.Publishers > 0 || len(c.PlayTargets) == 0 {
		return fmt.Errorf("%w: no target url", ErrBadConfig)
	}
	if c.Streams <= 0 {
		c.Streams = max(c.Publishers, 1)
	}
	if c.Stream == "" {
		c.Stream = "bench"
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = 60000
	}
	switch {
	case c.Publishers < 0 || c.Players < 0:
		return fmt.Errorf("%w: negative client count", ErrBadConfig)
	case c.Publishers > c.Streams:
		return fmt.Errorf("%w: %d publishers for %d streams", ErrBadConfig, c.Publishers, c.Streams)
	case c.Publishers+c.Streams*c.Players == 0:
		return fmt.Errorf("%w: no clients", ErrBadConfig)
	case c.Publishers+c.Streams*c.Players > MaxClients:
		return fmt.Errorf("%w: %d clients, at most %d", ErrBadConfig, c.Publishers+c.Streams*c.Players, MaxClients)
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return fmt.Errorf("%w: duration %v not in (0, %v]", ErrBadConfig, c.Duration, MaxDuration)
	case c.Bitrate < 0 || c.Ramp < 0 || c.Hold < 0:
		return fmt.Errorf("%w: negative bitrate, ramp or hold", ErrBadConfig)
	case c.ChunkSize > 0xffffff:
		return fmt.Errorf("%w: chunk size %d", ErrBadConfig, c.ChunkSize)
	case c.RetryPause < 0 || c.RetryPause > time.Minute:
		return fmt.Errorf("%w: retry pause %v not in [0, 1m]", ErrBadConfig, c.RetryPause)
	case c.ReadPause < 0 || c.ReadPause > time.Second:
		return fmt.Errorf("%w: read pause %v not in [0, 1s]", ErrBadConfig, c.ReadPause)
	case c.ReadBuffer < 0 || c.ReadBuffer > 16<<20:
		return fmt.Errorf("%w: read buffer %d not in [0, 16 MiB]", ErrBadConfig, c.ReadBuffer)
	}
	return nil
}
