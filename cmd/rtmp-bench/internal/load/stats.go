package load

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rtmp-edge/rtmp-edge/cmd/rtmp-bench/internal/rtmpraw"
)

// Error kinds, as counted in the summary.
const (
	ErrKindDial            = "dial"
	ErrKindRefused         = "refused"
	ErrKindHandshake       = "handshake"
	ErrKindTimeout         = "timeout"
	ErrKindConnectRejected = "connect_rejected"
	ErrKindPublishRejected = "publish_rejected"
	ErrKindPlayRejected    = "play_rejected"
	ErrKindClosed          = "closed_by_peer"
	ErrKindProtocol        = "protocol"
	ErrKindPanic           = "panic"
	ErrKindOther           = "other"
)

// Errors that mark the setup phase they happened in, for classification.
var (
	errDial      = errors.New("dial")
	errHandshake = errors.New("handshake")
)

// ErrorKind names what went wrong, for counting.
func ErrorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, ErrPanic):
		return ErrKindPanic
	case errors.Is(err, rtmpraw.ErrConnectRejected):
		return ErrKindConnectRejected
	case errors.Is(err, rtmpraw.ErrPublishRejected):
		return ErrKindPublishRejected
	case errors.Is(err, rtmpraw.ErrPlayRejected):
		return ErrKindPlayRejected
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrKindRefused
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return ErrKindTimeout
	case errors.Is(err, errDial):
		return ErrKindDial
	case errors.Is(err, errHandshake):
		return ErrKindHandshake
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return ErrKindClosed
	case errors.Is(err, rtmpraw.ErrUnexpected), errors.Is(err, rtmpraw.ErrCommandRejected),
		errors.Is(err, rtmpraw.ErrTooManyChunkStreams), errors.Is(err, rtmpraw.ErrMessageTooLarge),
		errors.Is(err, rtmpraw.ErrBadChunkSize), errors.Is(err, rtmpraw.ErrNoPreviousHeader),
		errors.Is(err, rtmpraw.ErrBadVersion):
		return ErrKindProtocol
	}
	return ErrKindOther
}

// clientStats is what one client measured. Counters are atomic because the
// progress line reads them while the client runs.
type clientStats struct {
	id     int
	role   string // "publish" or "play"
	stream string
	target Target
	source string

	bytesOut  atomic.Uint64
	bytesIn   atomic.Uint64
	sessions  atomic.Uint64 // sessions that reached publish/play
	connected atomic.Bool   // a session is set up now
	lastMedia atomic.Int64  // players: when the last media message arrived (UnixNano); 0 = never

	mu           sync.Mutex
	connectTimes []time.Duration
	firstPackets []time.Duration
	errors       map[string]uint64
	lastErr      string
}

func (c *clientStats) addConnect(d time.Duration) {
	c.mu.Lock()
	c.connectTimes = append(c.connectTimes, d)
	c.mu.Unlock()
}

func (c *clientStats) addFirstPacket(d time.Duration) {
	c.mu.Lock()
	c.firstPackets = append(c.firstPackets, d)
	c.mu.Unlock()
}

func (c *clientStats) addError(err error) {
	kind := ErrorKind(err)
	c.mu.Lock()
	if c.errors == nil {
		c.errors = make(map[string]uint64)
	}
	c.errors[kind]++
	c.lastErr = err.Error()
	c.mu.Unlock()
}

// Percentiles summarise durations in milliseconds.
type Percentiles struct {
	N    int     `json:"n"`
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	at := func(q float64) float64 { return ms(s[min(len(s)-1, int(q*float64(len(s))))]) }
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Percentiles{N: len(s), Min: ms(s[0]), Mean: ms(sum / time.Duration(len(s))),
		P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: ms(s[len(s)-1])}
}
