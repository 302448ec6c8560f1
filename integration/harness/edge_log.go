package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// LogLine is one JSON log line of the edge.
type LogLine map[string]any

// Msg is the line's "msg" field.
func (l LogLine) Msg() string { return l.Str("msg") }

// Str returns field key as a string ("" when absent; numbers and bools formatted).
func (l LogLine) Str(key string) string {
	switch v := l[key].(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// ClientIP is the IP part of the line's "client" field.
func (l LogLine) ClientIP() string { return hostOf(l.Str("client")) }

// Session is a parsed "session end" line.
type Session struct {
	ID        string `json:"id"`
	Client    string `json:"client"`
	Listener  string `json:"listener"`
	Proto     string `json:"proto"`
	App       string `json:"app"`
	TcURL     string `json:"tcurl"`
	FlashVer  string `json:"flashver"`
	Kind      string `json:"kind"`
	Reason    string `json:"reason"`
	Command   string `json:"command"`
	Stream    string `json:"stream"`
	Server    string `json:"server"`
	Misrouted bool   `json:"misrouted"`
	BytesIn   int64  `json:"bytes_in"`
	BytesOut  int64  `json:"bytes_out"`
	Duration  string `json:"duration"`
	End       string `json:"end"`
}

// ClientIP is the IP part of Client.
func (s Session) ClientIP() string { return hostOf(s.Client) }

func hostOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 && !strings.HasSuffix(addr, "]") {
		return strings.Trim(addr[:i], "[]")
	}
	return addr
}

// feed receives the edge's stderr and splits it into JSON lines.
func (e *Edge) feed(b []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.raw = append(e.raw, b...)
	added := false
	for {
		i := bytes.IndexByte(e.raw, '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimSpace(e.raw[:i])
		e.raw = e.raw[i+1:]
		var l LogLine
		if len(line) > 0 && line[0] == '{' && json.Unmarshal(line, &l) == nil {
			e.lines = append(e.lines, l)
			added = true
		}
	}
	if added {
		close(e.changed)
		e.changed = make(chan struct{})
	}
}

// Logs returns a copy of the JSON log lines seen so far.
func (e *Edge) Logs() []LogLine {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]LogLine(nil), e.lines...)
}

// Sessions returns the "session end" lines seen so far.
func (e *Edge) Sessions() []Session {
	var out []Session
	for _, l := range e.Logs() {
		if l.Msg() != "session end" {
			continue
		}
		b, _ := json.Marshal(l)
		var s Session
		_ = json.Unmarshal(b, &s)
		out = append(out, s)
	}
	return out
}

// WaitLog waits up to timeout for a log line (already seen or new) that match
// accepts, and fails the test if none comes or the edge exits first.
func (e *Edge) WaitLog(t testing.TB, match func(LogLine) bool, timeout time.Duration) LogLine {
	t.Helper()
	l, err := e.AwaitLog(match, timeout)
	if err != nil {
		t.Fatalf("%v; edge log tail:\n%s", err, lastBytes([]byte(e.Proc.Output()), 6<<10))
	}
	return l
}

// AwaitLog is WaitLog returning an error instead of failing the test.
func (e *Edge) AwaitLog(match func(LogLine) bool, timeout time.Duration) (LogLine, error) {
	return e.AwaitLogSince(0, match, timeout)
}

// LogMark is the number of log lines seen so far: pass it to AwaitLogSince to
// look only at what the edge logs after this moment (the answer to one SIGHUP,
// not to an earlier one).
func (e *Edge) LogMark() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.lines)
}

// WaitLogSince is WaitLog over the lines after mark (see LogMark).
func (e *Edge) WaitLogSince(t testing.TB, mark int, match func(LogLine) bool, timeout time.Duration) LogLine {
	t.Helper()
	l, err := e.AwaitLogSince(mark, match, timeout)
	if err != nil {
		t.Fatalf("%v; edge log tail:\n%s", err, lastBytes([]byte(e.Proc.Output()), 6<<10))
	}
	return l
}

// AwaitLogSince is AwaitLog over the lines after mark (see LogMark).
func (e *Edge) AwaitLogSince(mark int, match func(LogLine) bool, timeout time.Duration) (LogLine, error) {
	deadline := time.After(timeout)
	seen := mark
	for {
		e.mu.Lock()
		lines, changed := e.lines[seen:], e.changed
		e.mu.Unlock()
		for _, l := range lines {
			if match(l) {
				return l, nil
			}
		}
		seen += len(lines)
		select {
		case <-changed:
		case <-e.Proc.Done():
			// One last look: lines may have arrived with the exit.
			e.mu.Lock()
			rest := e.lines[seen:]
			e.mu.Unlock()
			for _, l := range rest {
				if match(l) {
					return l, nil
				}
			}
			_, err := e.Proc.Exited()
			return nil, fmt.Errorf("rtmp-edge exited (%v) before the expected log line", err)
		case <-deadline:
			return nil, fmt.Errorf("%w (%s)", ErrLogTimeout, timeout)
		}
	}
}

// WaitSession waits for the "session end" line of the client at addr
// ("ip:port", as the client's LocalAddr says) and returns it.
func (e *Edge) WaitSession(t testing.TB, clientAddr string, timeout time.Duration) Session {
	t.Helper()
	e.WaitLog(t, func(l LogLine) bool {
		return l.Msg() == "session end" && l.Str("client") == clientAddr
	}, timeout)
	for _, s := range e.Sessions() {
		if s.Client == clientAddr {
			return s
		}
	}
	t.Fatalf("session of %s vanished", clientAddr)
	return Session{}
}

// WaitSessionStart waits for the "session start" line of the client at addr
// ("ip:port") and returns it: the edge logs it once the real publish or play
// is known, so it tells a running session's id and server.
func (e *Edge) WaitSessionStart(t testing.TB, clientAddr string, timeout time.Duration) LogLine {
	t.Helper()
	return e.WaitLog(t, func(l LogLine) bool {
		return l.Msg() == "session start" && l.Str("client") == clientAddr
	}, timeout)
}

// HostOf is the IP part of an "ip:port" address as the edge logs it.
func HostOf(addr string) string { return hostOf(addr) }
