//go:build linux

package netns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// statWait bounds how long a client may take to show up in /stat.
const statWait = 30 * time.Second

// TestLabTopology checks the lab itself before any edge runs in it: the client
// cannot reach a media server except through a proxy in the edge namespace,
// a transparent dial from the client's address works there only with the
// transparent set-up, and nginx's /stat reports what the lab claims it does.
func TestLabTopology(t *testing.T) {
	lab := NewLab(t)
	media := StartMedia(t, lab)

	t.Run("no path from client to media without a proxy", func(t *testing.T) {
		probes := []struct {
			from NS
			addr string
		}{
			{lab.Client, media[0].RTMPAddr()},
			{lab.Client, media[2].RTMPAddr()},
			// Nor the other way: replies to the client's address only come
			// back through the edge's transparent socket.
			{lab.Media, hostPort(ClientIP, MediaRTMPPort)},
		}
		errs := make(chan error, len(probes))
		for _, p := range probes { // in parallel: each waits out its dial timeout
			go func() { errs <- expectUnreachable(p.from, nil, p.addr) }()
		}
		for range probes {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		// Control: the same dial works once the edge routes, so the failures
		// above come from the edge's forwarding being off, not a broken lab.
		if err := lab.setForwarding(true); err != nil {
			t.Fatal(err)
		}
		conn, err := DialIn(context.Background(), lab.Client, nil, media[0].RTMPAddr())
		if ferr := lab.ForwardingOff(); ferr != nil {
			t.Fatal(ferr)
		}
		if err != nil {
			t.Fatalf("control: with forwarding on the client still cannot reach media01: %v", err)
		}
		_ = conn.Close()
	})

	t.Run("transparent dial without the set-up fails", func(t *testing.T) {
		if err := lab.TearDownTransparent(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := lab.SetUpTransparent(); err != nil {
				t.Fatal(err)
			}
		})
		if err := expectUnreachable(lab.Edge, TransparentDialer(ClientIP), media[0].RTMPAddr()); err != nil {
			t.Error(err)
		}
	})

	t.Run("transparent stand-in edge: media sees the client address", func(t *testing.T) {
		// A minimal transparent proxy in the edge namespace, dialing media01
		// from each client's own address, the way `source: clientip` must.
		fwd := startForwarder(t, lab.Edge, hostPort(EdgeClientIP, 19350), TransparentFromClient(lab.Edge, media[0].RTMPAddr()))
		StartPublisher(t, lab.Client, "standin", "rtmp://"+fwd.Addr().String()+"/live/standin")
		clients := waitClients(t, media, "standin", 1)
		assertAddresses(t, clients, ClientIP)
		if errs := fwd.Errors(); len(errs) > 0 {
			t.Errorf("stand-in dial errors: %v", errs)
		}
	})

	t.Run("PROXY v1 stand-in: nginx proxy_protocol listener sees the header address", func(t *testing.T) {
		fwd := startForwarder(t, lab.Edge, hostPort(EdgeClientIP, 19351), func(ctx context.Context, c net.Conn) (net.Conn, error) {
			return ProxyTo(&lab.Edge, media[1].ProxyAddr(), 1, peerIP(c))(ctx, c)
		})
		StartPublisher(t, lab.Client, "standin-pp", "rtmp://"+fwd.Addr().String()+"/live/standinpp")
		clients := waitClients(t, media, "standinpp", 1)
		assertAddresses(t, clients, ClientIP)
	})
}

// expectUnreachable dials addr from ns and wants it to fail: with forwarding
// off the edge drops (or answers "unreachable" to) what is not its own.
func expectUnreachable(ns NS, d *net.Dialer, addr string) error {
	if d == nil {
		d = &net.Dialer{}
	}
	d.Timeout = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	conn, err := DialIn(ctx, ns, d, addr)
	if err == nil {
		_ = conn.Close()
		return errors.New("dial " + addr + " from " + ns.Name + " succeeded; the lab has a path that bypasses the edge")
	}
	if errors.Is(err, ErrNamespaceThread) {
		return err
	}
	return nil
}

func startForwarder(t testing.TB, ns NS, addr string, dial DialFunc) *Forwarder {
	t.Helper()
	ln, err := ListenIn(ns, addr)
	if err != nil {
		t.Fatal(err)
	}
	f := NewForwarder(ln, dial)
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// mediaClient is one /stat client of a stream and the server that lists it.
type mediaClient struct {
	Server     string
	Stream     string
	Publishing bool
	harness.StatClient
}

// streamClients lists the clients of stream over all media servers, leaving
// out the push relays between them.
func streamClients(ctx context.Context, media []*Media, stream string) ([]mediaClient, error) {
	var out []mediaClient
	for _, m := range media {
		stat, err := m.Stat(ctx)
		if err != nil {
			return nil, err
		}
		st := stat.Stream(stream)
		add := func(cs []harness.StatClient, publishing bool) {
			for _, c := range cs {
				if !isMediaAddress(c.Address) {
					out = append(out, mediaClient{Server: m.Name, Stream: stream, Publishing: publishing, StatClient: c})
				}
			}
		}
		add(st.Publishers, true)
		add(st.Players, false)
	}
	return out, nil
}

// isMediaAddress reports a client that is one media server talking to
// another: a pushed-in stream (peer = a media address) or nginx's own push
// relay, which /stat lists under the target URL's "host:port/app".
func isMediaAddress(addr string) bool {
	host := addr
	if h, _, ok := strings.Cut(addr, ":"); ok && strings.Contains(addr, "/") {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && slices.Contains(MediaIPs[:], ip)
}

// waitClients waits until stream has at least n clients over all media servers.
func waitClients(t testing.TB, media []*Media, stream string, n int) []mediaClient {
	t.Helper()
	var got []mediaClient
	err := waitFor(statWait, func() error {
		var err error
		got, err = streamClients(context.Background(), media, stream)
		if err != nil {
			return err
		}
		if len(got) < n {
			return errors.New("stream " + stream + ": " + describe(got))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("want %d clients of stream %s on the media servers: %v", n, stream, err)
	}
	return got
}

// assertAddresses fails t for every client whose address is not one of want;
// an edge address gets its own message (the edge dialed plainly).
func assertAddresses(t testing.TB, clients []mediaClient, want ...netip.Addr) {
	t.Helper()
	for _, c := range clients {
		ip, err := netip.ParseAddr(c.Address)
		switch {
		case err != nil:
			t.Errorf("%s lists client %q of %s: not an IP address", c.Server, c.Address, c.Stream)
		case ip == EdgeMediaIP || ip == EdgeClientIP:
			t.Errorf("%s sees the EDGE's address %s for a client of %s (flashver %q): the edge did not dial from the client's address", c.Server, ip, c.Stream, c.FlashVer)
		case !slices.Contains(want, ip):
			t.Errorf("%s sees %s for a client of %s (flashver %q), want one of %v", c.Server, ip, c.Stream, c.FlashVer, want)
		}
	}
}

func describe(cs []mediaClient) string {
	if len(cs) == 0 {
		return "no clients"
	}
	var parts []string
	for _, c := range cs {
		kind := "player"
		if c.Publishing {
			kind = "publisher"
		}
		parts = append(parts, c.Server+": "+kind+" from "+c.Address)
	}
	return strings.Join(parts, ", ")
}
