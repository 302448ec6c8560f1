package upstream

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	rtmp "github.com/yutopp/go-rtmp"
)

// A server behind `listen … proxy_protocol` resets connections without a
// header: the rtmp check must send one when the backend does.
func TestRTMPProbeSendsProxyHeader(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	headers := make(chan *proxyproto.Header, 4)
	pln := &proxyproto.Listener{Listener: ln, ValidateHeader: func(h *proxyproto.Header) error {
		headers <- h
		return nil
	}, Policy: func(net.Addr) (proxyproto.Policy, error) { return proxyproto.REQUIRE, nil }}
	srv := rtmp.NewServer(&rtmp.ServerConfig{
		OnConnect: func(conn net.Conn) (io.ReadWriteCloser, *rtmp.ConnConfig) {
			return conn, &rtmp.ConnConfig{Handler: &rtmpHandler{}}
		},
	})
	go func() { _ = srv.Serve(pln) }()
	t.Cleanup(func() { srv.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, v := range []string{ProxyProtocolV1, ProxyProtocolV2} {
		if err := probeRTMP(ctx, ln.Addr().String(), "live", v); err != nil {
			t.Fatalf("%s: probe of a healthy PROXY-protocol server failed: %v", v, err)
		}
		h := receive(t, headers)
		if src, _, ok := h.TCPAddrs(); !ok || !src.IP.IsLoopback() {
			t.Fatalf("%s: header names %v, want the edge's own loopback address", v, h.SourceAddr)
		}
	}
	// Without the header the server refuses: the check would call it down.
	short, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if err := probeRTMP(short, ln.Addr().String(), "live", ""); err == nil {
		t.Fatal("a probe without header passed a server that requires one: the test proves nothing")
	}
}
