package replicate

import (
	"errors"
	"testing"
)

// FuzzFeed: the publisher's bytes are untrusted. Whatever they are, parsing
// them (chunk scanner, command and media classification, the join queue of a
// ready replica) neither panics nor queues more than Buffer for a replica,
// and a read boundary anywhere gives the same result as the whole input:
// reads split a TCP stream at any byte.
func FuzzFeed(f *testing.F) {
	for _, c := range captures {
		b := readCapture(f, c.path)
		f.Add(b[:min(len(b), 6<<10)], uint16(len(b)/3)) // the connect…publish and the first media: big seeds make minimizing slow
	}
	f.Add(newPublisher(f, "s").media(9, 0, avcConfig).media(9, 0, avcKey).media(8, 0, aacFrame).b, uint16(40))
	f.Add(newPublisher(f, "s").raw(0x06, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0).b, uint16(7))
	const buffer = 16 << 10
	type result struct {
		err                          string
		name                         string
		published, unpublished       bool
		messages, keyframes, configs int64
		queued                       int
		drop                         string
	}
	run := func(t *testing.T, parts ...[]byte) result {
		p := newParser(Config{Buffer: buffer})
		r := readyReplica(p)
		var err error
		for _, b := range parts {
			if err = p.consume(b); err != nil {
				break
			}
			if r.qBytes > buffer {
				t.Fatalf("replica queue holds %d bytes, Buffer is %d", r.qBytes, buffer)
			}
		}
		res := result{name: p.stream.name, published: p.stream.published, unpublished: p.stream.unpublished,
			messages: p.stream.messages, keyframes: p.stream.keyframes, configs: p.stream.configMsgs,
			queued: r.qBytes, drop: r.drop}
		if err != nil && !errors.Is(err, errStop) {
			res.err = "unreadable" // the message may name an offset; only the outcome must agree
		}
		return res
	}
	f.Fuzz(func(t *testing.T, b []byte, cut uint16) {
		whole := run(t, b)
		at := int(cut) % (len(b) + 1)
		split := run(t, b[:at], b[at:])
		if whole != split {
			t.Fatalf("split at %d changes the outcome:\n whole %+v\n split %+v", at, whole, split)
		}
	})
}
