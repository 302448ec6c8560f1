package routing

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClassify(t *testing.T) {
	rules := []Rule{
		{App: "^ingest$", Kind: "publish"},                              // rule 0
		{TcURL: "^rtmp://upload\\.", FlashVer: "^LNX", Kind: "publish"}, // rule 1: both must match
		{App: "^live", FlashVer: "^FMLE/", Kind: "play"},                // rule 2: overrides the FMLE default
	}
	c, err := NewClassifier(rules)
	if err != nil {
		t.Fatalf("NewClassifier: %v", err)
	}
	tests := []struct {
		name       string
		ci         ConnectInfo
		wantKind   Kind
		wantReason string
	}{
		{"rule on app", ConnectInfo{App: "ingest"}, Publish, `rule 0 (app "^ingest$")`},
		{"app query is removed before matching", ConnectInfo{App: "ingest?key=abc"}, Publish, `rule 0 (app "^ingest$")`},
		{"query alone does not match", ConnectInfo{App: "x?ingest"}, Play, "default: play"},
		{"all fields of a rule must match", ConnectInfo{TcURL: "rtmp://upload.example/app", FlashVer: "LNX 9,0,124,2"}, Publish,
			`rule 1 (tcurl "^rtmp://upload\\.", flashver "^LNX")`},
		{"one field missing means no match", ConnectInfo{TcURL: "rtmp://upload.example/app", FlashVer: "WIN 32"}, Play, "default: play"},
		{"rule beats the FMLE default", ConnectInfo{App: "live", FlashVer: "FMLE/3.0 (compatible; FMSc/1.0)"}, Play,
			`rule 2 (app "^live", flashver "^FMLE/")`},
		{"first matching rule wins", ConnectInfo{App: "ingest", FlashVer: "FMLE/3.0"}, Publish, `rule 0 (app "^ingest$")`},
		{"type nonprivate", ConnectInfo{App: "show", Type: "nonprivate"}, Publish, `type "nonprivate"`},
		{"FMLE flashVer", ConnectInfo{App: "show", FlashVer: "FMLE/3.0 (compatible; Lavf61.7.100)"}, Publish,
			`flashVer "FMLE/3.0 (compatible; Lavf61.7.100)"`},
		{"fmle is case-sensitive", ConnectInfo{App: "show", FlashVer: "fmle/3.0"}, Play, "default: play"},
		{"other type is play", ConnectInfo{App: "show", Type: "private"}, Play, "default: play"},
		{"empty connect is play", ConnectInfo{}, Play, "default: play"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, reason := c.Classify(tt.ci)
			if kind != tt.wantKind || reason != tt.wantReason {
				t.Errorf("Classify(%+v) = %v, %q; want %v, %q", tt.ci, kind, reason, tt.wantKind, tt.wantReason)
			}
		})
	}
}

func TestClassifyDefaultsWithoutRules(t *testing.T) {
	for _, c := range []*Classifier{nil, {}, mustClassifier(t, nil)} {
		if kind, reason := c.Classify(ConnectInfo{Type: "nonprivate"}); kind != Publish || reason != `type "nonprivate"` {
			t.Errorf("Classify(nonprivate) = %v, %q", kind, reason)
		}
		if kind, _ := c.Classify(ConnectInfo{FlashVer: "LNX 9,0,124,2"}); kind != Play {
			t.Errorf("Classify(LNX) = %v, want play", kind)
		}
	}
}

func TestClassifyCatchAllRule(t *testing.T) {
	c := mustClassifier(t, []Rule{{Kind: "play"}})
	kind, reason := c.Classify(ConnectInfo{Type: "nonprivate"})
	if kind != Play || reason != "rule 0 (catch-all)" {
		t.Errorf("Classify = %v, %q; want play by the catch-all", kind, reason)
	}
}

func TestClassifyReasonQuotesAndCapsHostileFlashVer(t *testing.T) {
	hostile := "FMLE/" + strings.Repeat("é", 100) + "\n\x00injected=1"
	_, reason := (*Classifier)(nil).Classify(ConnectInfo{FlashVer: hostile})
	if strings.ContainsAny(reason, "\n\x00") {
		t.Errorf("reason carries raw control bytes: %q", reason)
	}
	if len(reason) > 2*maxReasonInput+32 {
		t.Errorf("reason is %d bytes, want it capped near %d", len(reason), maxReasonInput)
	}
	if !utf8.ValidString(reason) {
		t.Errorf("reason is not valid UTF-8: %q", reason)
	}
}

func TestNewClassifierErrors(t *testing.T) {
	tests := []struct {
		name  string
		rules []Rule
		want  []string // every one must appear in the error text
	}{
		{"bad app regexp", []Rule{{App: "(", Kind: "play"}}, []string{"classify[0].app: invalid regexp"}},
		{"bad tcurl regexp", []Rule{{Kind: "play"}, {TcURL: "[", Kind: "play"}}, []string{"classify[1].tcurl: invalid regexp"}},
		{"bad flashver regexp", []Rule{{FlashVer: "a**", Kind: "play"}}, []string{"classify[0].flashver: invalid regexp"}},
		{"missing kind", []Rule{{App: "x"}}, []string{`classify[0].kind: must be "publish" or "play", got ""`}},
		{"wrong kind", []Rule{{App: "x", Kind: "upload"}}, []string{`classify[0].kind: must be "publish" or "play", got "upload"`}},
		{"all errors reported", []Rule{{App: "(", Kind: "x"}, {FlashVer: ")", Kind: "play"}},
			[]string{"classify[0].app", "classify[0].kind", "classify[1].flashver"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClassifier(tt.rules)
			if err == nil {
				t.Fatalf("NewClassifier succeeded (%v), want an error", c)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %v holds no *FieldError", err)
			}
		})
	}
}

func mustClassifier(t testing.TB, rules []Rule) *Classifier {
	t.Helper()
	c, err := NewClassifier(rules)
	if err != nil {
		t.Fatalf("NewClassifier: %v", err)
	}
	return c
}

// FuzzClassify feeds hostile connect fields: Classify must not panic, must be
// deterministic, must return a known kind and a bounded, printable reason.
func FuzzClassify(f *testing.F) {
	f.Add("live", "rtmp://edge/live", "FMLE/3.0 (compatible; FMSc/1.0)", "nonprivate")
	f.Add("ingest?key=1", "rtmp://upload.example/ingest", "LNX 9,0,124,2", "")
	f.Add("?", "", "FMLE/"+strings.Repeat("\xff", 200), "nonprivate\x00")
	f.Add(strings.Repeat("a?", 1000), "\n", "\u2028", "NONPRIVATE")
	c, err := NewClassifier([]Rule{
		{App: "^ingest$", Kind: "publish"},
		{TcURL: "upload", FlashVer: "^LNX", Kind: "publish"},
		{App: "^(live|vod)(/|$)", Kind: "play"},
	})
	if err != nil {
		f.Fatalf("NewClassifier: %v", err)
	}
	f.Fuzz(func(t *testing.T, app, tcURL, flashVer, typ string) {
		ci := ConnectInfo{App: app, TcURL: tcURL, FlashVer: flashVer, Type: typ}
		kind, reason := c.Classify(ci)
		if kind != Play && kind != Publish {
			t.Fatalf("kind %d", kind)
		}
		if reason == "" || len(reason) > 4*maxReasonInput+64 {
			t.Fatalf("reason %q (%d bytes)", reason, len(reason))
		}
		if strings.ContainsAny(reason, "\n\r\x00") {
			t.Fatalf("reason carries raw control bytes: %q", reason)
		}
		if k2, r2 := c.Classify(ci); k2 != kind || r2 != reason {
			t.Fatalf("not deterministic: %v %q then %v %q", kind, reason, k2, r2)
		}
	})
}
