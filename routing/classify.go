package routing

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ConnectInfo is what the client's RTMP connect command said. Every field is untrusted
// (it comes straight off the wire); Classify only matches and quotes it.
type ConnectInfo struct {
	App, TcURL, FlashVer, Type string
}

// Rule is an operator classification rule. Each non-empty field is a Go (RE2) regexp
// that must match (unanchored, like regexp.MatchString); all non-empty fields must
// match for the rule to apply. The first matching rule wins. A rule with no pattern
// at all matches every session (a catch-all).
type Rule struct {
	App      string `yaml:"app"`      // matched against the app with any "?query" removed
	TcURL    string `yaml:"tcurl"`    // matched against tcUrl as sent
	FlashVer string `yaml:"flashver"` // matched against flashVer as sent
	Kind     string `yaml:"kind"`     // "publish" | "play" (required)
}

// Defaults used when no rule matches: FMLE-style encoders announce themselves with
// type "nonprivate" or a flashVer starting with "FMLE/" (ffmpeg and OBS send "FMLE/3.0 ...").
const (
	publishType       = "nonprivate"
	publishFlashVerPx = "FMLE/"
	reasonTypePublish = `type "nonprivate"`
	reasonDefaultPlay = "default: play"
	// maxReasonInput caps how much of an untrusted flashVer is copied into a reason
	// string, so a hostile client cannot blow up log lines.
	maxReasonInput = 64
)

// Classifier decides Play or Publish from a ConnectInfo. The zero value and a nil
// *Classifier apply only the defaults. Safe for concurrent use (read-only after
// NewClassifier).
type Classifier struct {
	rules []compiledRule
}

type compiledRule struct {
	app, tcURL, flashVer *regexp.Regexp // nil = field not constrained
	kind                 Kind
	reason               string // precomputed so Classify does not allocate on a rule hit
}

// NewClassifier compiles rules. Errors name the rule index and field
// ("classify[2].app: ...") and are all reported, joined with errors.Join.
func NewClassifier(rules []Rule) (*Classifier, error) {
	c := &Classifier{rules: make([]compiledRule, 0, len(rules))}
	var errs []error
	for i, r := range rules {
		path := "classify[" + strconv.Itoa(i) + "]"
		cr := compiledRule{}
		var ok bool
		cr.app, ok = compileField(&errs, path+".app", r.App)
		good := ok
		cr.tcURL, ok = compileField(&errs, path+".tcurl", r.TcURL)
		good = good && ok
		cr.flashVer, ok = compileField(&errs, path+".flashver", r.FlashVer)
		good = good && ok
		kind, err := ParseKind(r.Kind)
		if err != nil {
			errs = append(errs, &FieldError{Path: path + ".kind", Err: err})
			good = false
		}
		if !good {
			continue
		}
		cr.kind = kind
		cr.reason = ruleReason(i, r)
		c.rules = append(c.rules, cr)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func compileField(errs *[]error, path, pattern string) (*regexp.Regexp, bool) {
	if pattern == "" {
		return nil, true
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		*errs = append(*errs, &FieldError{Path: path, Err: fmt.Errorf("invalid regexp: %w", err)})
		return nil, false
	}
	return re, true
}

// ruleReason renders `rule 2 (app "^ingest")`; the index is the 0-based position in
// the classify list, the same number the config errors use.
func ruleReason(i int, r Rule) string {
	var parts []string
	if r.App != "" {
		parts = append(parts, "app "+strconv.Quote(r.App))
	}
	if r.TcURL != "" {
		parts = append(parts, "tcurl "+strconv.Quote(r.TcURL))
	}
	if r.FlashVer != "" {
		parts = append(parts, "flashver "+strconv.Quote(r.FlashVer))
	}
	if len(parts) == 0 {
		parts = append(parts, "catch-all")
	}
	return "rule " + strconv.Itoa(i) + " (" + strings.Join(parts, ", ") + ")"
}

// Classify returns the session kind and a short human reason for logs. Operator rules
// come first; then Publish for type "nonprivate" or a flashVer starting with "FMLE/";
// otherwise Play.
func (c *Classifier) Classify(ci ConnectInfo) (Kind, string) {
	if c != nil && len(c.rules) > 0 {
		app, _, _ := strings.Cut(ci.App, "?")
		for i := range c.rules {
			r := &c.rules[i]
			if matches(r.app, app) && matches(r.tcURL, ci.TcURL) && matches(r.flashVer, ci.FlashVer) {
				return r.kind, r.reason
			}
		}
	}
	if ci.Type == publishType {
		return Publish, reasonTypePublish
	}
	if strings.HasPrefix(ci.FlashVer, publishFlashVerPx) {
		return Publish, "flashVer " + strconv.Quote(truncateUTF8(ci.FlashVer, maxReasonInput))
	}
	return Play, reasonDefaultPlay
}

func matches(re *regexp.Regexp, s string) bool {
	return re == nil || re.MatchString(s)
}

// truncateUTF8 cuts s to at most max bytes without splitting a valid rune, marking the cut.
func truncateUTF8(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
