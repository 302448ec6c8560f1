package rtmpraw

import (
	"net"
	"sync/atomic"
)

// CountingConn adds the bytes read and written on a connection to In and Out.
type CountingConn struct {
	net.Conn
	In, Out *atomic.Uint64
}

func (c CountingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.In.Add(uint64(n))
	return n, err
}

func (c CountingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.Out.Add(uint64(n))
	return n, err
}
