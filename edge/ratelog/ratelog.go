// Package ratelog rate-limits repetitive log lines, such as one WARN per
// rejected connection, so that a flood of bad requests cannot flood the log
// (and make journald throttle and drop the lines that matter).
//
// Lines are grouped by a caller-chosen key, typically listener and reason.
// Per key, the first N lines of a window are written; the rest of that
// window are counted, and one summary line "<msg>: K more suppressed" is
// written when the next line for the key comes after the window ended, or
// at the latest by Sweep (which Run calls once per window) or Flush.
// Counting every event for metrics stays the caller's job: a suppressed line
// is only a line not written. Lines that must never be dropped (session
// ends) are simply not passed through a Limiter.
//
// Memory is bounded by the number of keys (WithMaxKeys): when the table is
// full, keys whose window has ended are swept first; if it is still full,
// the new key shares one overflow window (key OverflowKey) with every other
// key that finds no room. Evicting a live window instead would let a caller
// cycling through many keys write N lines per call.
package ratelog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultMaxKeys bounds the key table when WithMaxKeys is not given. Keys
// are meant to be (listener, reason) pairs, a few dozen at most; the cap
// only guards against a caller that puts client data into keys.
const DefaultMaxKeys = 1024

// OverflowKey names, in summaries, the shared window of keys that found the
// table full.
const OverflowKey = "ratelog overflow"

// Limiter writes at most N lines per key and window to a logger. It is safe
// for concurrent use.
type Limiter struct {
	log     *slog.Logger
	n       int
	window  time.Duration
	now     func() time.Time
	maxKeys int

	mu       sync.Mutex
	keys     map[string]*entry
	overflow entry // the shared window of keys that found keys full
}

// entry is one key's current window.
type entry struct {
	start      time.Time
	written    int
	suppressed int
	level      slog.Level // of the last suppressed line, for its summary
	msg        string     // of the last suppressed line
}

// Option configures a Limiter.
type Option func(*Limiter)

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(l *Limiter) { l.now = now } }

// WithMaxKeys bounds the number of keys held at once (default DefaultMaxKeys).
func WithMaxKeys(n int) Option {
	return func(l *Limiter) {
		if n > 0 {
			l.maxKeys = n
		}
	}
}

// New returns a Limiter that writes the first n lines of each key per
// window to logger. n < 1 is taken as 1; a window ≤ 0 as 10 s.
func New(logger *slog.Logger, n int, window time.Duration, opts ...Option) *Limiter {
	if n < 1 {
		n = 1
	}
	if window <= 0 {
		window = 10 * time.Second
	}
	l := &Limiter{log: logger, n: n, window: window, now: time.Now, maxKeys: DefaultMaxKeys, keys: make(map[string]*entry)}
	for _, o := range opts {
		o(l)
	}
	return l
}

// summary is a line to write after the lock is released.
type summary struct {
	key   string
	level slog.Level
	msg   string
	n     int
}

// Log writes msg with attrs at level unless key already had N lines in the
// current window; it reports whether the line was written.
func (l *Limiter) Log(ctx context.Context, level slog.Level, key, msg string, attrs ...slog.Attr) bool {
	now := l.now()
	var sums []summary
	l.mu.Lock()
	e := l.keys[key]
	if e != nil && now.Sub(e.start) >= l.window {
		// The window ended: report what it suppressed, start a new one.
		if e.suppressed > 0 {
			sums = append(sums, e.summary(key))
		}
		*e = entry{start: now}
	}
	if e == nil {
		if len(l.keys) >= l.maxKeys {
			sums = append(sums, l.sweepLocked(now)...)
		}
		if len(l.keys) < l.maxKeys {
			e = &entry{start: now}
			l.keys[key] = e
		} else {
			e = &l.overflow
			if now.Sub(e.start) >= l.window {
				if e.suppressed > 0 {
					sums = append(sums, e.summary(OverflowKey))
				}
				*e = entry{start: now}
			}
		}
	}
	write := e.written < l.n
	if write {
		e.written++
	} else {
		e.suppressed++
		e.level, e.msg = level, msg
	}
	l.mu.Unlock()

	l.write(ctx, sums)
	if write {
		l.log.LogAttrs(ctx, level, msg, attrs...)
	}
	return write
}

// sweepLocked drops every key whose window has ended and returns their
// summaries. Call with mu held.
func (l *Limiter) sweepLocked(now time.Time) []summary {
	var sums []summary
	if e := &l.overflow; e.suppressed > 0 && now.Sub(e.start) >= l.window {
		sums = append(sums, e.summary(OverflowKey))
		e.suppressed = 0
	}
	for k, e := range l.keys {
		if now.Sub(e.start) >= l.window {
			if e.suppressed > 0 {
				sums = append(sums, e.summary(k))
			}
			delete(l.keys, k)
		}
	}
	return sums
}

// Sweep writes the summary of every window that has ended and forgets those
// keys, so a burst is reported even when no further line for its key comes.
func (l *Limiter) Sweep(ctx context.Context) {
	l.mu.Lock()
	sums := l.sweepLocked(l.now())
	l.mu.Unlock()
	l.write(ctx, sums)
}

// Flush writes a summary for every key with suppressed lines, ended window
// or not (at shutdown, so no count is lost). The windows themselves go on:
// a key that reached N stays suppressed until its window ends.
func (l *Limiter) Flush(ctx context.Context) {
	var sums []summary
	l.mu.Lock()
	if e := &l.overflow; e.suppressed > 0 {
		sums = append(sums, e.summary(OverflowKey))
		e.suppressed = 0
	}
	for k, e := range l.keys {
		if e.suppressed > 0 {
			sums = append(sums, e.summary(k))
			e.suppressed = 0
		}
	}
	l.mu.Unlock()
	l.write(ctx, sums)
}

// Run calls Sweep once per window until ctx is done, then Flush.
func (l *Limiter) Run(ctx context.Context) {
	t := time.NewTicker(l.window)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			l.Flush(context.WithoutCancel(ctx))
			return
		case <-t.C:
			l.Sweep(ctx)
		}
	}
}

// Len reports how many keys are held (for tests and metrics).
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

func (e *entry) summary(key string) summary {
	return summary{key: key, level: e.level, msg: e.msg, n: e.suppressed}
}

func (l *Limiter) write(ctx context.Context, sums []summary) {
	for _, s := range sums {
		l.log.LogAttrs(ctx, s.level, fmt.Sprintf("%s: %d more suppressed", s.msg, s.n),
			slog.String("key", s.key), slog.Int("suppressed", s.n), slog.Duration("window", l.window))
	}
}
