//go:build linux

package upstream

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// transparentSetup is the TPROXY set-up (kernel Documentation/networking/tproxy.rst): mark the
// media servers' replies, which are addressed to client IPs but belong to a local transparent
// socket, and route marked packets to the local stack.
const transparentSetup = `  nft add table filter
  nft add chain filter divert "{ type filter hook prerouting priority -150; }"
  nft add rule filter divert meta l4proto tcp socket transparent 1 meta mark set 1 accept
  ip rule add fwmark 1 lookup 100
  ip route add local 0.0.0.0/0 dev lo table 100
  (the process needs CAP_NET_ADMIN or CAP_NET_RAW; the media servers must route client
  addresses back through this host)`

// Seams for tests: probing IP_TRANSPARENT and running ip(8).
var (
	probeTransparent = probeTransparentSocket
	runIP            = runIPCommand
)

// CheckTransparent verifies at start-up that source clientip/client can work on this host:
// IP_TRANSPARENT can be set on a socket (CAP_NET_ADMIN or CAP_NET_RAW), and an IPv4 policy
// rule "fwmark … lookup T" exists whose table T has "local 0.0.0.0/0 dev lo".
//
// The routing is read by running "ip -4 rule show" and "ip -4 route show table T" (iproute2);
// parsing rtnetlink by hand would be more code to get wrong for a one-time check. The nftables
// (or iptables -m socket) marking itself is not verified: it can live in any table and chain
// under any name; the error text lists it with the rest of the set-up. IPv6 is not checked.
//
// It returns nil or ONE error wrapping ErrTransparentNotReady whose text names everything
// missing and the commands that set it up.
func CheckTransparent() error {
	var missing []string
	if err := probeTransparent(); err != nil {
		missing = append(missing, fmt.Sprintf("IP_TRANSPARENT cannot be set (%v): run as root or with CAP_NET_ADMIN (e.g. setcap cap_net_admin+ep on the binary, or AmbientCapabilities=CAP_NET_ADMIN in the systemd unit)", err))
	}
	if problem := replyRoutingProblem(); problem != "" {
		missing = append(missing, problem)
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s; set it up with:\n%s", ErrTransparentNotReady, strings.Join(missing, "; "), transparentSetup)
}

// replyRoutingProblem describes what is missing in the policy routing, or "" if it is there.
func replyRoutingProblem() string {
	rules, err := runIP("-4", "rule", "show")
	if err != nil {
		return fmt.Sprintf("cannot read policy routing rules (ip -4 rule show: %v)", err)
	}
	tables := fwmarkTables(rules)
	if len(tables) == 0 {
		return "no policy routing rule for marked replies (ip rule with fwmark … lookup <table>)"
	}
	for _, table := range tables {
		routes, err := runIP("-4", "route", "show", "table", table)
		if err == nil && hasLocalDefaultOnLo(routes) {
			return ""
		}
	}
	return fmt.Sprintf("fwmark rule(s) look up table(s) %s but none has the route \"local 0.0.0.0/0 dev lo\"", strings.Join(tables, ", "))
}

// fwmarkTables returns the tables of rules that select on a firewall mark, from "ip rule show"
// output such as "32765:	from all fwmark 0x1 lookup 100" (or "fwmark 0x1/0x1 lookup tproxy").
func fwmarkTables(rules string) []string {
	var tables []string
	for _, line := range strings.Split(rules, "\n") {
		fields := strings.Fields(line)
		hasMark := false
		for i, f := range fields {
			switch f {
			case "fwmark":
				hasMark = i+1 < len(fields)
			case "lookup", "table":
				if hasMark && i+1 < len(fields) {
					tables = append(tables, fields[i+1])
				}
			}
		}
	}
	return tables
}

// hasLocalDefaultOnLo reports whether "ip route show table T" output has the route that
// delivers every marked packet locally: "local default dev lo scope host".
func hasLocalDefaultOnLo(routes string) bool {
	for _, line := range strings.Split(routes, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 4 || fields[0] != "local" || (fields[1] != "default" && fields[1] != "0.0.0.0/0") {
			continue
		}
		for i := 2; i+1 < len(fields); i++ {
			if fields[i] == "dev" && fields[i+1] == "lo" {
				return true
			}
		}
	}
	return false
}

// probeTransparentSocket sets IP_TRANSPARENT on a throw-away socket: the kernel refuses it
// (EPERM) without CAP_NET_ADMIN or CAP_NET_RAW.
func probeTransparentSocket() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TRANSPARENT, 1); err != nil {
		return fmt.Errorf("setsockopt(IPPROTO_IP, IP_TRANSPARENT, 1): %w", err)
	}
	return nil
}

// runIPCommand runs ip(8) with a bound so a wedged netlink cannot hang start-up.
func runIPCommand(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).Output()
	if err != nil {
		return "", err
	}
	return string(out), nil
}
