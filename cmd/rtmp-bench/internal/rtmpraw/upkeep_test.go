package rtmpraw

import (
	"bufio"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// ReadMessage keeps the protocol's upkeep: it acknowledges every window of
// bytes the peer asked for and answers ping requests.
func TestReadMessageAcksAndPongs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []Message, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var b []byte
		b = AppendWindowAckSize(b, 1000)
		b = AppendUserControl(b, EventPingRequest, 77)
		for range 5 {
			b = AppendMessage(b, 128, CSIDVideo, 0, TypeVideo, 1, make([]byte, 900))
		}
		if _, err := c.Write(b); err != nil {
			return
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		r := NewReader(bufio.NewReader(c))
		var msgs []Message
		for { // until the client closes
			m, err := r.Read()
			if err != nil {
				break
			}
			m.Payload = append([]byte(nil), m.Payload...)
			msgs = append(msgs, m)
		}
		got <- msgs
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := NewConn(nc)
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for c.MediaMessages < 5 {
		if _, err := c.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	}
	nc.Close()
	var pong, acks int
	var lastAck uint32
	for _, m := range <-got {
		switch {
		case m.Type == TypeUserControl && binary.BigEndian.Uint16(m.Payload) == EventPingResponse && binary.BigEndian.Uint32(m.Payload[2:]) == 77:
			pong++
		case m.Type == TypeAck:
			lastAck = binary.BigEndian.Uint32(m.Payload)
			acks++
		}
	}
	if pong != 1 {
		t.Errorf("got %d ping responses, want 1", pong)
	}
	// Never more than a window of bytes unacknowledged.
	if read := c.R.BytesRead; acks < 2 || uint64(lastAck)+1000 < read {
		t.Errorf("%d acks, the last for %d of %d bytes read; want at most a 1000-byte window behind", acks, lastAck, read)
	}
	if c.MediaBytes != 4500 {
		t.Errorf("MediaBytes = %d, want 4500", c.MediaBytes)
	}
}
