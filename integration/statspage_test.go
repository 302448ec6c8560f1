package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// TestStatsPageInChromium loads the admin stats page in headless Chromium
// while a publisher and a player stream through the edge, and checks the
// rendered page, after its scripts ran (the page fills itself from the API):
// every server's name and the live stream's name are shown, and it loads
// nothing from elsewhere. A 1280x900 screenshot is kept as a test artifact;
// RTMP_EDGE_UPDATE_SCREENSHOT=1 also copies it to testdata/stats-page.png,
// the picture the README shows.
func TestStatsPageInChromium(t *testing.T) {
	t.Parallel()
	c := startCluster(t, clusterOptions{})
	flv := harness.MakeTestStream(t, 4)
	harness.Publish(t, url("rtmp", c.rtmp, "stats-live"), flv)
	c.waitMirrored(t, "stats-live")
	var players []*harness.Player
	for i := 1; i <= 3; i++ {
		p := harness.StartPlayer(t, harness.PlayerOptions{Addr: c.rtmp, LocalIP: harness.ClientIP(105, i), Stream: "stats-live"})
		c.edge.WaitSessionStart(t, p.LocalAddr(), 15*time.Second)
		players = append(players, p)
	}
	if err := harness.WaitAllGrown(harness.MarkAll(players), 10, 20*time.Second); err != nil {
		t.Fatal(err)
	}

	page := "http://" + c.admin + "/"
	dom := harness.ChromiumDOM(t, page)
	// The page's layout: servers in #backends, above the #sessions table.
	backends, sessions := between(dom, `id="backends"`, `id="sessions"`), between(dom, `id="sessions"`, `</table>`)
	for _, name := range []string{"media01", "media02", "media03"} {
		if !strings.Contains(visibleText(backends), name) {
			t.Errorf("the rendered stats page does not show server %s in #backends; its text:\n%.3000s", name, visibleText(dom))
		}
	}
	if !strings.Contains(visibleText(sessions), "stats-live") {
		t.Errorf("the rendered stats page does not show the live stream stats-live in #sessions; its text:\n%.3000s", visibleText(dom))
	}
	for _, ref := range externalRef.FindAllStringSubmatch(dom, -1) {
		if !strings.HasPrefix(ref[2], "//"+c.admin+"/") && !strings.HasPrefix(ref[2], "http://"+c.admin+"/") {
			t.Errorf("the stats page loads %s=%q from elsewhere; it must be self-contained", ref[1], ref[2])
		}
	}

	shot := harness.ArtifactPath(t, "stats-page.png")
	harness.ChromiumScreenshot(t, page, shot)
	t.Logf("stats page screenshot: %s", shot)
	if os.Getenv("RTMP_EDGE_UPDATE_SCREENSHOT") != "" {
		b, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join("testdata", "stats-page.png")
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("copied to %s", dst)
	}
}

// externalRef finds src/href attributes with an absolute or scheme-relative URL.
var externalRef = regexp.MustCompile(`(?i)\b(src|href)\s*=\s*["']((?:[a-z][a-z0-9+.-]*:)?//[^"']*)`)

// scriptOrStyle and tag strip a DOM dump down to its visible text, so that a
// name found only inside a script (a template, a default) does not count as shown.
var (
	scriptOrStyle = regexp.MustCompile(`(?is)<(script|style)\b.*?</(script|style)\s*>`)
	tag           = regexp.MustCompile(`(?s)<[^>]*>`)
)

func visibleText(dom string) string {
	return tag.ReplaceAllString(scriptOrStyle.ReplaceAllString(dom, " "), " ")
}

// between is the part of s from the first from to the next to after it ("" if absent).
func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i:]
	if j := strings.Index(s, to); j >= 0 {
		return s[:j]
	}
	return s
}
