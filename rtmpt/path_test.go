package rtmpt

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	id := "0123456789abcdefABCDEF0123456789"
	cases := []struct {
		uri     string
		want    tunnelPath
		wantErr error
	}{
		{"/fcs/ident2", tunnelPath{cmd: cmdFCS}, nil},
		{"//fcs/ident2", tunnelPath{cmd: cmdFCS}, nil}, // early RootEncoder
		{"/fcs/ident", tunnelPath{cmd: cmdFCS}, nil},
		{"/open/1", tunnelPath{cmd: cmdOpen, seq: 1, hasSeq: true}, nil},
		{"/open/1?x", tunnelPath{cmd: cmdOpen, seq: 1, hasSeq: true}, nil},
		{"/send/" + id + "/0", tunnelPath{cmd: cmdSend, id: id, seq: 0, hasSeq: true}, nil},
		{"//send//" + id + "//42//", tunnelPath{cmd: cmdSend, id: id, seq: 42, hasSeq: true}, nil},
		{"/idle/" + id + "/18446744073709551615", tunnelPath{}, errBadSeq}, // 20 digits: over the cap
		{"/idle/" + id + "/1844674407370955161", tunnelPath{cmd: cmdIdle, id: id, seq: 1844674407370955161, hasSeq: true}, nil},
		{"/close/" + id, tunnelPath{cmd: cmdClose, id: id}, nil}, // HaishinKit, RootEncoder
		{"/close/" + id + "/7", tunnelPath{cmd: cmdClose, id: id, seq: 7, hasSeq: true}, nil},
		{"/send/" + id, tunnelPath{}, errBadSeq},
		{"/idle/" + id, tunnelPath{}, errBadSeq},
		{"/send/" + id + "/-1", tunnelPath{}, errBadSeq},
		{"/send/" + id + "/+1", tunnelPath{}, errBadSeq},
		{"/send/" + id + "/1a", tunnelPath{}, errBadSeq},
		{"/send/bad.id/0", tunnelPath{}, errBadID},
		{"/send/" + strings.Repeat("a", maxIDLen+1) + "/0", tunnelPath{}, errBadID},
		{"/send/%41/0", tunnelPath{}, errBadID},
		{"/open/x", tunnelPath{}, errBadSeq},
		{"/open", tunnelPath{}, errUnknownPath},
		{"/open/1/2", tunnelPath{}, errUnknownPath},
		{"/send/" + id + "/1/2", tunnelPath{}, errUnknownPath},
		{"/send", tunnelPath{}, errUnknownPath},
		{"/SEND/" + id + "/0", tunnelPath{}, errUnknownPath}, // commands are lower case
		{"/", tunnelPath{}, errUnknownPath},
		{"", tunnelPath{}, errUnknownPath},
		{"/fcs/ident3", tunnelPath{}, errUnknownPath},
		{"/crossdomain.xml", tunnelPath{}, errUnknownPath},
		{"/" + strings.Repeat("x/", maxPathLen), tunnelPath{}, errUnknownPath},
	}
	for _, tc := range cases {
		got, err := parsePath(tc.uri)
		if !errors.Is(err, tc.wantErr) || (err == nil && got != tc.want) {
			t.Errorf("parsePath(%q) = %+v, %v; want %+v, %v", tc.uri, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		wants []string // substrings of the error; none means valid
	}{
		{"zero is all defaults", Config{}, nil},
		{"explicit", Config{MaxSessions: 10, MaxSessionsPerIP: 2, MaxBody: 1, IdleTimeout: 1, ReorderWindow: 1, Buffer: 1}, nil},
		{"negatives", Config{MaxSessions: -1, MaxBody: -2, IdleTimeout: -3, ReorderWindow: -4, Buffer: -5, MaxSessionsPerIP: -6},
			[]string{"rtmpt.max_sessions:", "rtmpt.max_body:", "rtmpt.idle_timeout:", "rtmpt.reorder_window:", "rtmpt.buffer:", "rtmpt.max_sessions_per_ip:"}},
		{"per-ip above total", Config{MaxSessions: 5, MaxSessionsPerIP: 6}, []string{"rtmpt.max_sessions_per_ip: 6 exceeds max_sessions 5"}},
		{"negative new fields", Config{MemoryBudget: -1, OpenTimeout: -1, HTTPReadTimeout: -1, HTTPIdleTimeout: -1, HTTPWriteTimeout: -1},
			[]string{"rtmpt.memory_budget:", "rtmpt.open_timeout:", "rtmpt.http_read_timeout:", "rtmpt.http_idle_timeout:", "rtmpt.http_write_timeout:"}},
		{"budget below one body", Config{MemoryBudget: 1000}, []string{"rtmpt.memory_budget: 1000 is below max_body 262144"}},
		{"small budget, small bodies", Config{MemoryBudget: 1000, MaxBody: 1000}, nil},
	}
	for _, tc := range cases {
		err := tc.cfg.Validate()
		if len(tc.wants) == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", tc.name, err, w)
			}
		}
	}
	if _, err := New(Config{Buffer: -1}, echoHandler); err == nil {
		t.Error("New accepted an invalid config")
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Error("New accepted a nil handler")
	}
	d := Config{}.withDefaults()
	if d != (Config{DefaultMaxSessions, DefaultMaxSessionsPerIP, DefaultMaxBody, DefaultIdleTimeout, DefaultReorderWindow, DefaultBuffer,
		DefaultMemoryBudget, DefaultOpenTimeout, DefaultHTTPReadTimeout, DefaultHTTPIdleTimeout, DefaultHTTPWriteTimeout}) {
		t.Errorf("defaults %+v", d)
	}
}

func TestParseOpenReply(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"abc123\n", true},
		{"abc123", false},
		{"abc123\r\n", false}, // librtmp would keep the \r in the id
		{"abc123\n\n", false},
		{"\n", false},
		{"ab c\n", false},
		{"\x00", false}, // Red5's "no slot free"
	} {
		_, err := parseOpenReply([]byte(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("parseOpenReply(%q): %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}
