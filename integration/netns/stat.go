package netns

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// MaxStatBytes caps an nginx-rtmp /stat page; a lab page is a few KiB.
const MaxStatBytes = 1 << 20

// statTimeout bounds one /stat request.
const statTimeout = 5 * time.Second

// Sentinel errors of ParseStat and FetchStat.
var (
	ErrStatTooLarge = errors.New("netns: /stat page larger than MaxStatBytes")
	ErrStatStatus   = errors.New("netns: /stat answered with a non-200 status")
)

// StatClient is one RTMP client of one stream on an nginx-rtmp server: the
// address is what the server saw as the TCP peer (or the PROXY header's source).
type StatClient struct {
	App        string
	Stream     string
	Address    string
	FlashVer   string
	Publishing bool
}

// statPage mirrors the part of nginx-rtmp's /stat XML the lab reads.
type statPage struct {
	Apps []struct {
		Name    string `xml:"name"`
		Streams []struct {
			Name    string `xml:"name"`
			Clients []struct {
				Address    string    `xml:"address"`
				FlashVer   string    `xml:"flashver"`
				Publishing *struct{} `xml:"publishing"`
			} `xml:"client"`
		} `xml:"live>stream"`
	} `xml:"server>application"`
}

// ParseStat returns every client listed on an nginx-rtmp /stat page.
func ParseStat(page []byte) ([]StatClient, error) {
	if len(page) > MaxStatBytes {
		return nil, fmt.Errorf("%w: %d bytes", ErrStatTooLarge, len(page))
	}
	var p statPage
	if err := xml.Unmarshal(page, &p); err != nil {
		return nil, fmt.Errorf("parse /stat: %w", err)
	}
	var out []StatClient
	for _, a := range p.Apps {
		for _, s := range a.Streams {
			for _, c := range s.Clients {
				out = append(out, StatClient{
					App: a.Name, Stream: s.Name, Address: c.Address,
					FlashVer: c.FlashVer, Publishing: c.Publishing != nil,
				})
			}
		}
	}
	return out, nil
}

// FetchStat gets and parses http://<addr>/stat with the given client (whose
// transport decides the namespace the request is made from).
func FetchStat(ctx context.Context, client *http.Client, addr string) ([]StatClient, error) {
	ctx, cancel := context.WithTimeout(ctx, statTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/stat", nil)
	if err != nil {
		return nil, fmt.Errorf("build /stat request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %s/stat: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s from %s", ErrStatStatus, resp.Status, addr)
	}
	page, err := io.ReadAll(io.LimitReader(resp.Body, MaxStatBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s/stat: %w", addr, err)
	}
	return ParseStat(page)
}
