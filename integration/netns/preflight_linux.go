//go:build linux

package netns

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/rtmp-edge/rtmp-edge/integration/peers"
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
	// Missing tools are installed (the project's rule: a missing peer is
	// installed, never a reason to skip); only a failed install is "unavailable".
	if err := peers.Install("ip", "nft"); err != nil {
		return fmt.Errorf("%w: iproute2 or nftables missing and not installable: %w", ErrLabUnavailable, err)
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
