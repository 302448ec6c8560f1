package harness

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Stat is nginx-rtmp's /stat, reduced to what the tests check.
type Stat struct {
	Streams map[string]*StreamStat // by stream name, application "live" (and others) merged
}

// StreamStat lists the clients of one stream. A push relay that nginx runs to
// another server is listed in Relays, not among the players.
type StreamStat struct {
	Name       string
	Publishers []StatClient
	Players    []StatClient
	Relays     []StatClient
}

// relayFlashVer is the flashver nginx-rtmp shows for its own outgoing relays
// (their address is the target URL, e.g. "127.0.0.1:1935/live").
const relayFlashVer = "ngx-local-relay"

// StatClient is one client as nginx saw it; Address is the peer IP nginx logged
// (the edge's, the real client's in transparent mode, or the PROXY header's).
type StatClient struct {
	ID       string
	Address  string
	FlashVer string
}

// Stream returns the named stream, or an empty one.
func (s *Stat) Stream(name string) *StreamStat {
	if st, ok := s.Streams[name]; ok {
		return st
	}
	return &StreamStat{Name: name}
}

// Stat fetches and parses /stat; it fails the test on any error.
func (n *Nginx) Stat(t testing.TB) *Stat {
	t.Helper()
	s, err := n.FetchStat(context.Background())
	if err != nil {
		t.Fatalf("stat of %s: %v", n.Opts.Name, err)
	}
	return s
}

// FetchStat fetches and parses /stat (5 s bound), for callers that poll.
func (n *Nginx) FetchStat(ctx context.Context) (*Stat, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.Opts.HTTPAddr+"/stat", nil)
	if err != nil {
		return nil, fmt.Errorf("build /stat request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get /stat of %s: %w", n.Opts.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get /stat of %s: status %s", n.Opts.Name, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, statBodyLimit))
	if err != nil {
		return nil, fmt.Errorf("read /stat of %s: %w", n.Opts.Name, err)
	}
	return ParseStat(body)
}

// statXML mirrors the parts of nginx-rtmp's /stat document that matter here.
type statXML struct {
	Servers []struct {
		Applications []struct {
			Name    string `xml:"name"`
			Streams []struct {
				Name    string `xml:"name"`
				Clients []struct {
					ID         string    `xml:"id"`
					Address    string    `xml:"address"`
					FlashVer   string    `xml:"flashver"`
					Publishing *struct{} `xml:"publishing"`
				} `xml:"client"`
			} `xml:"live>stream"`
		} `xml:"application"`
	} `xml:"server"`
}

// ParseStat parses nginx-rtmp's /stat XML.
func ParseStat(doc []byte) (*Stat, error) {
	var x statXML
	if err := xml.Unmarshal(doc, &x); err != nil {
		return nil, fmt.Errorf("parse /stat xml: %w", err)
	}
	s := &Stat{Streams: map[string]*StreamStat{}}
	for _, srv := range x.Servers {
		for _, app := range srv.Applications {
			for _, st := range app.Streams {
				out := s.Streams[st.Name]
				if out == nil {
					out = &StreamStat{Name: st.Name}
					s.Streams[st.Name] = out
				}
				for _, c := range st.Clients {
					sc := StatClient{ID: c.ID, Address: c.Address, FlashVer: c.FlashVer}
					switch {
					case c.Publishing != nil:
						out.Publishers = append(out.Publishers, sc)
					case c.FlashVer == relayFlashVer:
						out.Relays = append(out.Relays, sc)
					default:
						out.Players = append(out.Players, sc)
					}
				}
			}
		}
	}
	return s, nil
}

// WaitStat polls /stat every 200 ms until ok returns true, up to timeout; it fails
// the test with the last document's summary otherwise.
func (n *Nginx) WaitStat(t testing.TB, what string, ok func(*Stat) bool, timeout time.Duration) *Stat {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *Stat
	var lastErr error
	for {
		s, err := n.FetchStat(context.Background())
		if err == nil {
			last = s
			if ok(s) {
				return s
			}
		} else {
			lastErr = err
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /stat of %s did not show %s within %s; last: %s (last error: %v)", t.Name(), n.Opts.Name, what, timeout, last, lastErr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// String summarises the stat for failure messages.
func (s *Stat) String() string {
	if s == nil {
		return "<no stat>"
	}
	var b strings.Builder
	for name, st := range s.Streams {
		fmt.Fprintf(&b, "[%s: %d publishers %v, %d players %v] ", name, len(st.Publishers), st.Publishers, len(st.Players), st.Players)
	}
	if b.Len() == 0 {
		return "<no streams>"
	}
	return b.String()
}
