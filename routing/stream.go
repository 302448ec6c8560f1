package routing

import "strings"

// MaxStreamKeyLen bounds a stream key. Names come off the wire; a longer one gets no
// key (its sessions are balanced as if the stream were unknown), so a hostile client
// cannot make the registry hold megabyte keys.
const MaxStreamKeyLen = 1024

// StreamKey returns the registry key of a stream: the connect command's app and the
// publish/play stream name, each without its "?query" (tokens and other per-client
// arguments: every viewer of one stream sends different ones), joined into one path
// with stray slashes removed, e.g. ("live", "demo?token=x") → "live/demo".
//
// Joining matters because clients split one URL differently: for
// rtmp://host/live/sub/demo one sends app "live" and name "sub/demo", another app
// "live/sub" and name "demo"; both are the same stream on the media server's disk
// and in its live table, and both get the key "live/sub/demo". Type prefixes such as
// "mp4:" are kept (a media server treats "mp4:a.mp4" and "a.mp4" as different
// streams), and so is letter case (nginx-rtmp and crtmpserver match names exactly).
//
// It returns "" when there is no stream name, or when the key would be longer than
// MaxStreamKeyLen; "" means "stream unknown" everywhere in this package.
func StreamKey(app, name string) string {
	app, _, _ = strings.Cut(app, "?")
	name, _, _ = strings.Cut(name, "?")
	if len(app)+len(name)+1 > 4*MaxStreamKeyLen { // cheap early bound before any copying
		return ""
	}
	name = cleanPath(name)
	if name == "" {
		return ""
	}
	key := name
	if app = cleanPath(app); app != "" {
		key = app + "/" + name
	}
	if len(key) > MaxStreamKeyLen {
		return ""
	}
	return key
}

// cleanPath drops leading and trailing slashes and collapses runs of them ("//live/"
// → "live"), which is what stray slashes in hand-written or client-built URLs amount
// to. It does not interpret "." or "..": media servers do not either.
func cleanPath(s string) string {
	s = strings.Trim(s, "/")
	if !strings.Contains(s, "//") {
		return s // the common case: no allocation
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '/' && i > 0 && s[i-1] == '/' {
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
