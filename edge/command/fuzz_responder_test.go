package command

import (
	"bytes"
	"fmt"
	"testing"
)

// FuzzResponder: arbitrary client bytes never panic, never grow the record
// or the answers past the limits, and give the same answers, decision and
// error whole or split anywhere.
func FuzzResponder(f *testing.F) {
	for _, name := range []string{"nginx-ffmpeg-publish", "nginx-ffmpeg-play", "nginx-rtmpdump-play", "nginx-rtmpdump-live"} {
		b := readTestdata(f, name+".client.bin")
		f.Add(b[:min(len(b), 1024)], uint16(100), uint8(0))
		f.Add(b[:min(len(b), 1024)], uint16(3), uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint16, family uint8) {
		tmpl := DefaultTemplate()
		switch family % 3 {
		case 1:
			tmpl = crtmpTemplate(t)
		case 2:
			tmpl = srsTemplate(t)
		}
		lim := Limits{MaxBytes: 4096, MaxMessages: 32}
		run := func(pieces ...[]byte) ([]byte, *Routed, error, []byte) {
			r := NewResponder(Config{Template: tmpl, Limits: lim})
			var out []byte
			for _, p := range pieces {
				o, routed, err := r.Feed(p, t0)
				out = append(out, o...)
				if err != nil || routed != nil {
					return out, routed, err, r.Recorded()
				}
			}
			return out, nil, nil, r.Recorded()
		}
		out, routed, err, rec := run(data)
		if len(rec) > lim.MaxBytes || (err == nil && !bytes.Equal(rec, data)) {
			t.Fatalf("recorded %d of %d bytes (err %v)", len(rec), len(data), err)
		}
		if len(out) > 64<<10 {
			t.Fatalf("%d bytes of answers", len(out))
		}
		i := int(split) % (len(data) + 1)
		out2, routed2, err2, _ := run(data[:i], data[i:])
		// On an error the session closes: answers written before it do not count.
		// Compared as printed: a NaN transaction id (legal AMF0) is not
		// DeepEqual to itself.
		if (err == nil && !bytes.Equal(out, out2)) || fmt.Sprintf("%+v", routed) != fmt.Sprintf("%+v", routed2) || (err == nil) != (err2 == nil) {
			t.Fatalf("split at %d: %d bytes, %+v, %v; whole: %d bytes, %+v, %v", i, len(out2), routed2, err2, len(out), routed, err)
		}
		if routed != nil && !routed.AtConnect && routed.Kind == KindUnknown {
			t.Fatalf("routed without a kind: %+v", routed)
		}
	})
}
