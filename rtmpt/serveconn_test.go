package rtmpt

import (
	"net"
	"testing"
)

// proxiedConn reports a client address other than the socket's, as the
// edge's conn does after a PROXY protocol header.
type proxiedConn struct {
	net.Conn
	remote net.Addr
}

func (c proxiedConn) RemoteAddr() net.Addr { return c.remote }

// TestServeConnUsesConnRemoteAddr: sessions belong to the address of the conn
// given to ServeConn, not to the socket's peer.
func TestServeConnUsesConnRemoteAddr(t *testing.T) {
	conns := make(chan *Conn, 1)
	srv, err := New(Config{}, recordingHandler(conns))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ln.Close()
		srv.Close()
	})
	claimed := &net.TCPAddr{IP: net.IPv4(198, 18, 0, 7), Port: 40000}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// Its error is not reported: the test may be over when it returns.
			go func() { _ = srv.ServeConn(proxiedConn{Conn: c, remote: claimed}) }()
		}
	}()
	c := dialRaw(t, ln.Addr().String(), "")
	id := c.open()
	conn := recvConn(t, conns)
	if conn.RemoteAddr().String() != claimed.String() || srv.table.ipCount("198.18.0.7") != 1 {
		t.Fatalf("session owner %v, want %v", conn.RemoteAddr(), claimed)
	}
	if status, _ := c.post("/send/"+id+"/0", []byte("hi")); status != 200 {
		t.Fatalf("send from the same claimed address: %d", status)
	}
	if got := readFull(t, conn, 2); string(got) != "hi" {
		t.Fatalf("read %q", got)
	}
}
