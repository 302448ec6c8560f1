package rtmpt

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Client-side limits: a reply is never larger than this (the server caps
// reply data at maxReplyData), and every request must complete in time.
const (
	clientMaxReply       = 1 << 20
	clientRequestTimeout = 10 * time.Second
)

// httpPoster sends RTMPT POSTs over a kept-alive TCP connection (or a new one
// per request), the way Flash-era clients do, and reads the replies.
type httpPoster struct {
	addr   string
	dialer net.Dialer
	perReq bool // a new TCP connection per request
	conn   net.Conn
	br     *bufio.Reader
	// local and remote are the addresses of the latest TCP connection.
	local, remote net.Addr
	scratch       []byte
}

func newHTTPPoster(addr string, opts ClientOptions) *httpPoster {
	p := &httpPoster{addr: addr, perReq: opts.ConnPerRequest}
	if opts.LocalAddr != nil {
		p.dialer.LocalAddr = opts.LocalAddr
	}
	return p
}

// post sends one request and returns the reply status and body.
func (p *httpPoster) post(ctx context.Context, path string, body []byte) (int, []byte, error) {
	if p.conn == nil {
		c, err := p.dialer.DialContext(ctx, "tcp", p.addr)
		if err != nil {
			return 0, nil, fmt.Errorf("dial rtmpt server %s: %w", p.addr, err)
		}
		p.conn, p.br = c, bufio.NewReader(c)
		p.local, p.remote = c.LocalAddr(), c.RemoteAddr()
	}
	status, reply, keep, err := p.roundTrip(path, body)
	if err != nil || !keep || p.perReq {
		p.close()
	}
	if err != nil {
		return 0, nil, fmt.Errorf("post %s: %w", path, err)
	}
	return status, reply, nil
}

func (p *httpPoster) roundTrip(path string, body []byte) (status int, reply []byte, keep bool, err error) {
	if err := p.conn.SetDeadline(time.Now().Add(clientRequestTimeout)); err != nil {
		return 0, nil, false, fmt.Errorf("set deadline: %w", err)
	}
	// The header librtmp and FFmpeg send, in one write with the body.
	b := p.scratch[:0]
	b = append(b, "POST "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, p.addr...)
	b = append(b, "\r\nAccept: */*\r\nUser-Agent: Shockwave Flash\r\nConnection: Keep-Alive\r\nCache-Control: no-cache\r\nContent-Type: application/x-fcs\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	p.scratch = b[:0]
	if _, err := p.conn.Write(b); err != nil {
		return 0, nil, false, fmt.Errorf("write request: %w", err)
	}
	resp, err := http.ReadResponse(p.br, nil)
	if err != nil {
		return 0, nil, false, fmt.Errorf("read response: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.ContentLength > clientMaxReply:
		return 0, nil, false, fmt.Errorf("%w: content length %d", ErrReplyTooLarge, resp.ContentLength)
	case resp.ContentLength >= 0:
		// The usual case (our server always sends Content-Length): one
		// allocation of the right size.
		reply = make([]byte, resp.ContentLength)
		if _, err := io.ReadFull(resp.Body, reply); err != nil {
			return 0, nil, false, fmt.Errorf("read response body: %w", err)
		}
	default:
		reply, err = io.ReadAll(io.LimitReader(resp.Body, clientMaxReply+1))
		if err != nil {
			return 0, nil, false, fmt.Errorf("read response body: %w", err)
		}
		if len(reply) > clientMaxReply {
			return 0, nil, false, ErrReplyTooLarge
		}
	}
	return resp.StatusCode, reply, !resp.Close, nil
}

func (p *httpPoster) close() {
	if p.conn != nil {
		_ = p.conn.Close()
		p.conn, p.br = nil, nil
	}
}
