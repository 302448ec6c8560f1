package ratelog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a slog.Handler that keeps every record it is given.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// counts splits the records into plain lines and summaries, and sums the
// suppressed counts the summaries report, per key.
func (r *recorder) counts() (lines, summaries int, suppressed map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	suppressed = map[string]int{}
	for _, rec := range r.recs {
		if !strings.Contains(rec.Message, "more suppressed") {
			lines++
			continue
		}
		summaries++
		var key string
		var n int
		rec.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "key":
				key = a.Value.String()
			case "suppressed":
				n = int(a.Value.Int64())
			}
			return true
		})
		suppressed[key] += n
	}
	return lines, summaries, suppressed
}

// fakeClock is a settable clock, safe for concurrent reads.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestFlood: 100k rejections for 4 keys spread over 10 windows write 10
// lines per key and window, one summary per key and window, and the
// summaries account for every suppressed call.
func TestFlood(t *testing.T) {
	rec := &recorder{}
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := New(slog.New(rec), 10, 10*time.Second, WithClock(clk.now))
	ctx := context.Background()
	const calls, keys, windows = 100_000, 4, 10
	written := 0
	for i := range calls {
		if i > 0 && i%(calls/windows) == 0 {
			clk.advance(10 * time.Second)
		}
		key := fmt.Sprintf("rtmp-80/reason%d", i%keys)
		if l.Log(ctx, slog.LevelWarn, key, "session rejected", slog.Int("i", i)) {
			written++
		}
	}
	clk.advance(10 * time.Second)
	l.Sweep(ctx)
	lines, summaries, suppressed := rec.counts()
	if want := keys * windows * 10; lines != want || written != want {
		t.Errorf("lines written %d (Log said %d), want %d", lines, written, want)
	}
	if want := keys * windows; summaries != want {
		t.Errorf("summaries %d, want %d", summaries, want)
	}
	total := 0
	for _, n := range suppressed {
		total += n
	}
	if total+lines != calls {
		t.Errorf("written %d + suppressed %d = %d, want every one of %d calls accounted", lines, total, total+lines, calls)
	}
	if l.Len() != 0 {
		t.Errorf("%d keys left after the sweep", l.Len())
	}
}

// TestSummaryOnNextLine: the summary comes with the first line of the next
// window, before it, carrying the level and message of what it replaces.
func TestSummaryOnNextLine(t *testing.T) {
	rec := &recorder{}
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := New(slog.New(rec), 2, time.Second, WithClock(clk.now))
	ctx := context.Background()
	for range 5 {
		l.Log(ctx, slog.LevelWarn, "k", "rtmpt refused")
	}
	if lines, sums, _ := rec.counts(); lines != 2 || sums != 0 {
		t.Fatalf("within the window: %d lines, %d summaries; want 2 and 0", lines, sums)
	}
	clk.advance(time.Second)
	if !l.Log(ctx, slog.LevelWarn, "k", "rtmpt refused") {
		t.Fatal("first line of a new window suppressed")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.recs) != 4 {
		t.Fatalf("%d records, want 4", len(rec.recs))
	}
	s := rec.recs[2]
	if s.Message != "rtmpt refused: 3 more suppressed" || s.Level != slog.LevelWarn {
		t.Errorf("summary %q at %v", s.Message, s.Level)
	}
	if rec.recs[3].Message != "rtmpt refused" {
		t.Errorf("line after the summary: %q", rec.recs[3].Message)
	}
}

// TestFlushReportsOpenWindows: Flush (shutdown) writes what is suppressed
// so far, once; the window stays closed to new lines.
func TestFlushReportsOpenWindows(t *testing.T) {
	rec := &recorder{}
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := New(slog.New(rec), 1, time.Minute, WithClock(clk.now))
	ctx := context.Background()
	for range 4 {
		l.Log(ctx, slog.LevelInfo, "k", "m")
	}
	l.Flush(ctx)
	l.Flush(ctx)
	if l.Log(ctx, slog.LevelInfo, "k", "m") {
		t.Error("line written in a full window after Flush")
	}
	clk.advance(time.Minute)
	l.Sweep(ctx)
	lines, sums, suppressed := rec.counts()
	if lines != 1 || sums != 2 || suppressed["k"] != 4 {
		t.Errorf("lines %d summaries %d suppressed %v; want 1, 2, k=4", lines, sums, suppressed)
	}
}

// TestKeyCap: keys beyond the cap share one overflow window, so memory
// stays bounded, many keys cannot bypass the limit, and no count is lost.
func TestKeyCap(t *testing.T) {
	rec := &recorder{}
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := New(slog.New(rec), 1, time.Hour, WithClock(clk.now), WithMaxKeys(8))
	ctx := context.Background()
	calls := 0
	for i := range 1000 {
		clk.advance(time.Millisecond) // distinct window starts: a clear oldest
		for range 3 {
			l.Log(ctx, slog.LevelWarn, fmt.Sprintf("key%d", i), "m")
			calls++
		}
		if l.Len() > 8 {
			t.Fatalf("%d keys held, cap 8", l.Len())
		}
	}
	l.Flush(ctx)
	lines, _, suppressed := rec.counts()
	total := 0
	for _, n := range suppressed {
		total += n
	}
	// 8 keys with a line each, then one line for the overflow window.
	if lines != 9 || lines+total != calls || suppressed[OverflowKey] == 0 {
		t.Errorf("lines %d + suppressed %d (%v), want 9 + %d", lines, total, suppressed, calls-9)
	}
}

// TestConcurrent: many goroutines on few keys (run with -race); every call
// is either written or reported by a summary.
func TestConcurrent(t *testing.T) {
	rec := &recorder{}
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := New(slog.New(rec), 10, 10*time.Second, WithClock(clk.now), WithMaxKeys(3))
	ctx := context.Background()
	var wg sync.WaitGroup
	const workers, per = 8, 5000
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				if w == 0 && i%1000 == 0 {
					clk.advance(10 * time.Second)
				}
				l.Log(ctx, slog.LevelWarn, fmt.Sprintf("k%d", i%5), "m")
			}
		})
	}
	wg.Wait()
	l.Flush(ctx)
	lines, _, suppressed := rec.counts()
	total := 0
	for _, n := range suppressed {
		total += n
	}
	if lines+total != workers*per {
		t.Errorf("lines %d + suppressed %d != %d calls", lines, total, workers*per)
	}
	// A key's windows do not overlap and start at one of the 6 clock
	// values worker 0 moves through, so each of the 5 keys and the overflow
	// writes at most 10 lines in each of at most 6 windows (which keys hold
	// the 3 slots may change as windows end).
	if lines > 6*10*6 {
		t.Errorf("%d lines written for %d calls", lines, workers*per)
	}
}
