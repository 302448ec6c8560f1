package harness

import (
	"strings"
	"testing"
)

// FuzzParseFrameMD5 feeds arbitrary tool output to the framemd5 parser: it must
// return an error or one packet per data line, never panic.
func FuzzParseFrameMD5(f *testing.F) {
	f.Add([]byte("#codec_id 0: h264\n0, 0, 0, 40, 9080, ab98208328f0ee08de1e03aa3df25485\n"))
	f.Add([]byte("#codec_id 1: aac\n1, 23, 23, 23, 187, d312484a, S=1, 8, 00\n"))
	f.Add([]byte("0,,,,,\n#codec_id :\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		ps, err := ParseFrameMD5(out)
		if err != nil {
			return
		}
		data := 0
		for _, line := range strings.Split(string(out), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				data++
			}
		}
		if len(ps) != data {
			t.Fatalf("%d packets from %d data lines", len(ps), data)
		}
	})
}

// FuzzParseStat feeds arbitrary documents to the /stat parser: it must not panic,
// and every client it returns is in exactly one list of its stream.
func FuzzParseStat(f *testing.F) {
	f.Add([]byte(`<rtmp><server><application><live><stream><name>s</name><client><id>1</id><address>127.0.0.1</address><publishing/></client></stream></live></application></server></rtmp>`))
	f.Add([]byte(`<rtmp><server><application><live><stream><client><flashver>ngx-local-relay</flashver></client></stream></live></application></server></rtmp>`))
	f.Add([]byte(`<rtmp>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		s, err := ParseStat(doc)
		if err != nil {
			return
		}
		for name, st := range s.Streams {
			if st.Name != name {
				t.Fatalf("stream %q filed under %q", st.Name, name)
			}
		}
	})
}
