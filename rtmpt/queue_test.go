package rtmpt

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
)

func TestByteQueue(t *testing.T) {
	never := make(chan struct{})
	expired := make(chan struct{})
	close(expired)

	q := newByteQueue(4, nil)
	if n, err := q.write([]byte("abcdef"), expired); n != 4 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write over the limit: %d, %v; want 4 and a deadline error", n, err)
	}
	out, ended := q.take(1, 3)
	if string(out[1:]) != "abc" || len(out) != 4 || ended {
		t.Fatalf("take: %q ended=%v", out, ended)
	}
	buf := make([]byte, 8)
	if n, err := q.read(buf, never); string(buf[:n]) != "d" || err != nil {
		t.Fatalf("read: %q %v", buf[:n], err)
	}
	if _, err := q.read(buf, expired); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read empty with an expired deadline: %v", err)
	}

	q.write([]byte("xy"), never)
	q.closeWrite(net.ErrClosed)
	if _, err := q.write([]byte("z"), never); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after closeWrite: %v", err)
	}
	if n, err := q.read(buf, never); string(buf[:n]) != "xy" || err != nil {
		t.Fatalf("drain after closeWrite: %q %v", buf[:n], err)
	}
	if _, err := q.read(buf, never); err != io.EOF {
		t.Fatalf("read after drain: %v, want EOF", err)
	}
	if _, ended := q.take(1, 10); !ended {
		t.Fatal("take on an ended, empty queue: ended=false")
	}

	q = newByteQueue(4, nil)
	q.write([]byte("ab"), never)
	boom := errors.New("boom")
	q.closeRead(boom)
	if _, err := q.read(buf, never); err != boom {
		t.Fatalf("read after closeRead: %v", err)
	}
	if _, err := q.write([]byte("c"), never); err != boom {
		t.Fatalf("write after closeRead: %v", err)
	}

	q = newByteQueue(4, nil)
	q.write([]byte("ab"), never)
	q.finish(boom)
	if n, _ := q.read(buf, never); n != 2 {
		t.Fatal("finish dropped pending bytes")
	}
	if _, err := q.read(buf, never); err != boom {
		t.Fatalf("read after finish: %v", err)
	}
}

// TestByteQueueBlockingWriteWakes: a writer blocked on a full queue resumes
// when the consumer takes bytes.
func TestByteQueueBlockingWriteWakes(t *testing.T) {
	q := newByteQueue(2, nil)
	done := make(chan error, 1)
	go func() {
		_, err := q.write([]byte("abcdef"), nil)
		done <- err
	}()
	var got []byte
	for len(got) < 6 {
		wake := q.changed()
		b, _ := q.take(0, 10)
		if len(b) == 0 {
			<-wake
		}
		got = append(got, b...)
	}
	if string(got) != "abcdef" || <-done != nil {
		t.Fatalf("got %q", got)
	}
}

// TestByteQueueTakeHandsOver: a take of everything from a snugly sized
// array hands the array over (the queue charges nothing more and never
// writes into it again); a take from a roomy array copies.
func TestByteQueueTakeHandsOver(t *testing.T) {
	mem := newBudget(1 << 20)
	q := newByteQueue(1<<20, mem)
	data := bytes.Repeat([]byte("abcdefghij"), 100)
	if _, err := q.write(data, nil); err != nil {
		t.Fatal(err)
	}
	out, _ := q.take(1, 64<<10)
	if !bytes.Equal(out[1:], data) || len(out) != 1+len(data) {
		t.Fatalf("take: %d bytes", len(out))
	}
	if mem.inUse() != 0 {
		t.Fatalf("queue still charges %d after handing its array over", mem.inUse())
	}
	out[0] = 9 // the caller's interval byte: in front of the data, not in it
	if _, err := q.write(bytes.Repeat([]byte{'z'}, 900), nil); err != nil {
		t.Fatal(err)
	}
	if out[0] != 9 || !bytes.Equal(out[1:], data) {
		t.Fatal("the queue wrote into an array it handed over")
	}
	// Now a big array with little in it: copied (the drained array is then
	// given back, being above retainCap).
	q2 := newByteQueue(1<<20, mem)
	_, _ = q2.write(make([]byte, 8000), nil)
	_, _ = q2.take(0, 7990)
	before := mem.inUse()
	small, _ := q2.take(1, 100)
	if len(small) != 11 || cap(small) != 11 || mem.inUse() >= before {
		t.Fatalf("roomy take: len %d cap %d, charged %d → %d; want a copy", len(small), cap(small), before, mem.inUse())
	}
}
