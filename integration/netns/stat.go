//go:build linux

package netns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// MaxStatBytes caps an nginx-rtmp /stat page; a lab page is a few KiB.
const MaxStatBytes = 1 << 20

// statTimeout bounds one /stat (or /metrics) request.
const statTimeout = 5 * time.Second

// Sentinel errors of FetchStat.
var (
	ErrStatTooLarge = errors.New("netns: /stat page larger than MaxStatBytes")
	ErrStatStatus   = errors.New("netns: /stat answered with a non-200 status")
)

// FetchStat gets http://<addr>/stat with client (whose transport decides the
// namespace the request is made from) and parses it with harness.ParseStat.
func FetchStat(ctx context.Context, client *http.Client, addr string) (*harness.Stat, error) {
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
	if len(page) > MaxStatBytes {
		return nil, fmt.Errorf("%w: from %s", ErrStatTooLarge, addr)
	}
	return harness.ParseStat(page)
}
