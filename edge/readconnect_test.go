package edge

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// readConnect hands back every byte it read, verbatim and in order, for the
// replay to the media server: the connect command, what came before it and
// what the client sent right behind it in the same reads.
func TestReadConnectReturnsEveryByteRead(t *testing.T) {
	connect := command("connect", connectObject)
	after := command("createStream", []byte{5})
	whole := append(append(append([]byte{}, setChunkSize(4096)...), connect...), after...)
	for _, tc := range []struct {
		name string
		r    func([]byte) io.Reader
	}{
		{"one read", func(b []byte) io.Reader { return bytes.NewReader(b) }},
		{"byte by byte", func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
		{"half reads", func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := newClientStream()
			r := bufio.NewReaderSize(tc.r(whole), 4096)
			replay, err := readConnect(r, cs, 64<<10)
			if err != nil {
				t.Fatal(err)
			}
			if cs.connect == nil || cs.connect.App != "live" {
				t.Fatalf("connect not parsed: %+v", cs.connect)
			}
			// What the reader held beyond connect is in the replay too; what
			// it had not read yet stays in the reader.
			rest, _ := io.ReadAll(r)
			if got := append(replay, rest...); !bytes.Equal(got, whole) {
				t.Fatalf("replay + unread = %d bytes, want the %d sent, in order", len(got), len(whole))
			}
			if len(replay) < len(whole)-len(after) {
				t.Fatalf("replay has %d bytes, shorter than everything up to connect (%d)", len(replay), len(whole)-len(after))
			}
		})
	}
}

func TestReadConnectLimitsAndErrors(t *testing.T) {
	connect := command("connect", connectObject)
	t.Run("too long", func(t *testing.T) {
		noise := bytes.Repeat(setChunkSize(4096), 200) // no connect in sight
		_, err := readConnect(bufio.NewReader(bytes.NewReader(noise)), newClientStream(), 1000)
		if !errors.Is(err, ErrConnectTooLong) {
			t.Fatalf("err = %v, want ErrConnectTooLong", err)
		}
	})
	t.Run("eof before connect", func(t *testing.T) {
		_, err := readConnect(bufio.NewReader(bytes.NewReader(connect[:len(connect)-3])), newClientStream(), 64<<10)
		if !errors.Is(err, io.EOF) {
			t.Fatalf("err = %v, want EOF", err)
		}
	})
}

// Any client bytes: readConnect never panics, never keeps more than the
// limit, and what it returns with a connect is exactly the bytes it took.
func FuzzReadConnect(f *testing.F) {
	connect := command("connect", connectObject)
	f.Add(append(setChunkSize(4096), connect...))
	f.Add(connect[:len(connect)/2])
	f.Add(bytes.Repeat([]byte{0xff}, 300))
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 2048
		cs := newClientStream()
		r := bufio.NewReaderSize(iotest.HalfReader(bytes.NewReader(in)), 4096)
		replay, err := readConnect(r, cs, limit)
		if err != nil {
			return
		}
		if cs.connect == nil {
			t.Fatal("no error and no connect")
		}
		if len(replay) > limit {
			t.Fatalf("replay of %d bytes, past the %d limit", len(replay), limit)
		}
		rest, _ := io.ReadAll(r)
		if !bytes.Equal(append(replay, rest...), in) {
			t.Fatal("replay + unread differs from the input")
		}
	})
}
