//go:build linux

package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
)

// ErrLabUnavailable means this machine cannot host the lab at all (not root,
// no netns support, no nftables socket expression); tests skip on it, loudly.
var ErrLabUnavailable = errors.New("netns lab unavailable")

var (
	preflightOnce sync.Once
	preflightErr  error
)

// Preflight checks, once per process, that this machine can build the lab:
// root, the ip and nft tools, `ip netns add`, and an nftables rule with the
// `socket transparent` expression (kernel nft_socket) inside a namespace.
// It returns nil or an error wrapping ErrLabUnavailable that names what is missing.
func Preflight() error {
	preflightOnce.Do(func() { preflightErr = preflight() })
	return preflightErr
}

func preflight() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not root (namespaces, veths and IP_TRANSPARENT need CAP_SYS_ADMIN/CAP_NET_ADMIN)", ErrLabUnavailable)
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s not found (install iproute2 and nftables): %w", ErrLabUnavailable, tool, err)
		}
	}
	sweepStale()
	probe := NS{Name: namespaceName(newRunID(), "p")}
	if err := runIP("netns", "add", probe.Name); err != nil {
		return fmt.Errorf("%w: cannot create a network namespace: %w", ErrLabUnavailable, err)
	}
	defer func() { _ = runIP("netns", "del", probe.Name) }()
	for _, args := range [][]string{
		{"add", "table", "inet", "preflight"},
		{"add", "chain", "inet", "preflight", "divert", "{ type filter hook prerouting priority -150; }"},
		{"add", "rule", "inet", "preflight", "divert", "meta", "l4proto", "tcp", "socket", "transparent", "1", "meta", "mark", "set", "1", "accept"},
	} {
		if err := probe.Run("nft", args...); err != nil {
			return fmt.Errorf("%w: nftables `socket transparent` rule refused (kernel nft_socket module?): %w", ErrLabUnavailable, err)
		}
	}
	return nil
}
