#!/bin/sh
# transparent-setup.sh — prepare this host (or network namespace) for rtmp-edge's
# transparent mode (`source: clientip` / `source: client`).
#
# In transparent mode the edge dials each media server FROM THE CLIENT'S ADDRESS
# (IP_TRANSPARENT socket bound to a foreign IP). The media server answers to that
# client address; its route sends the answer back through this host, where the
# kernel would forward it (or drop it) because the address is not local. The
# Linux TPROXY recipe (kernel Documentation/networking/tproxy.rst, the same
# set-up HAProxy's "usesrc clientip" needs) makes the kernel deliver those answers
# to the edge's socket instead:
#
#   1. nftables: in prerouting, packets that belong to a local transparent
#      socket get a firewall mark:
#        table inet rtmp_edge { chain prerouting { type filter hook prerouting
#          priority mangle; meta l4proto tcp socket transparent 1 meta mark set 1 accept } }
#   2. policy routing: marked packets are looked up in a table of their own ...
#        ip rule add fwmark 1 lookup 100
#   3. ... which says "every address is local":
#        ip route replace local 0.0.0.0/0 dev lo table 100
#      (and the same with -6 when this host has IPv6, see RTMP_EDGE_IPV6).
#
# sysctls (the ones HAProxy's transparent-mode guides set), and why this script sets only one of them:
#   - net.ipv4.conf.all.rp_filter: with strict reverse-path filtering (1) a
#     multi-homed edge drops a client's packets when the route back to that
#     client leaves by another interface (in docker the edge's default route may
#     sit on the media network). The marked replies themselves pass a strict
#     check (their source, the media server, is routed back where they came
#     in), so "loose" (2) is enough and keeps dropping unroutable sources. The
#     effective value is max(all, <interface>), so only `all` is touched, and
#     only when it is 1. 0 and 2 are left alone.
#   - net.ipv4.ip_forward: NOT needed for the edge itself. Marked replies are
#     delivered locally (an RTN_LOCAL route; the forwarding check is never
#     reached). Turning forwarding on would make the edge a router between the
#     client network and the media network, so the default leaves it alone.
#     Set RTMP_EDGE_FORWARD=1 if the media servers must reach other networks
#     through the edge (their default route points at it).
#   - net.ipv4.ip_nonlocal_bind: not needed; IP_TRANSPARENT allows binding the
#     foreign address by itself.
# Inside docker /proc/sys is read-only: set the values with `sysctls:` in the
# compose file; this script then finds them already right and writes nothing.
#
# Everything here is per network namespace (nftables tables, ip rules, routes,
# /proc/sys/net), so `ip netns exec NS transparent-setup.sh` changes only NS.
#
# Usage: transparent-setup.sh [--up|--down|--help]
#   --up    (default) set up; running it again is harmless (idempotent).
#   --down  remove exactly what --up added and restore the sysctls it changed;
#           what already existed before --up is left in place.
# Environment (defaults in brackets):
#   RTMP_EDGE_MARK [1]       firewall mark given to packets of transparent sockets
#   RTMP_EDGE_TABLE [100]    routing table that delivers marked packets locally
#   RTMP_EDGE_IPV6 [auto]    auto: also set up IPv6 when lo has IPv6 and is up; 1: must; 0: never
#   RTMP_EDGE_FORWARD [0]    1: also switch on net.ipv4.ip_forward
#
# What --up added is recorded in the comment of the nftables table (kernel
# >= 5.10), which lives and dies with the namespace: --down reads it back.
# Needs: nft (nftables >= 0.9.7), ip (iproute2), root or CAP_NET_ADMIN, a kernel
# with nft_socket (NFT_SOCKET) and policy routing.
set -eu

prog=transparent-setup.sh
nft_table=rtmp_edge
state_tag="rtmp-edge transparent-setup v1:"

die() {
	echo "$prog: $*" >&2
	exit 1
}

say() {
	echo "$prog: $*"
}

usage() {
	sed -n '/^# Usage:/,/^# What --up/p' "$0" | sed 's/^# \{0,1\}//' | sed '$d'
}

# is_uint VALUE — a decimal number without sign or leading zero.
is_uint() {
	case $1 in
	'' | *[!0-9]* | 0?*) return 1 ;;
	*) return 0 ;;
	esac
}

# in_range VALUE — a mark or table number: 1 to 2^32-1.
in_range() {
	is_uint "$1" && [ "${#1}" -le 10 ] && [ "$1" -ge 1 ] && [ "$1" -le 4294967295 ]
}

check_params() {
	if ! in_range "$mark"; then
		die "RTMP_EDGE_MARK=$mark: want a decimal number from 1 to 4294967295"
	fi
	if ! in_range "$table"; then
		die "RTMP_EDGE_TABLE=$table: want a decimal number from 1 to 4294967295"
	fi
	case $table in
	253 | 254 | 255) die "RTMP_EDGE_TABLE=$table is a reserved table (default, main, local)" ;;
	esac
	case $ipv6 in
	auto | 0 | 1) ;;
	*) die "RTMP_EDGE_IPV6=$ipv6: want auto, 0 or 1" ;;
	esac
	case $forward in
	0 | 1) ;;
	*) die "RTMP_EDGE_FORWARD=$forward: want 0 or 1" ;;
	esac
}

check_tools() {
	command -v nft >/dev/null 2>&1 || die "nft not found: install nftables"
	command -v ip >/dev/null 2>&1 || die "ip not found: install iproute2"
	# Listing needs CAP_NET_ADMIN in this namespace, like every change below.
	if ! err=$(nft list tables 2>&1 >/dev/null); then
		die "nft cannot read the ruleset (${err:-no message}): run as root or with CAP_NET_ADMIN"
	fi
}

# ---- state kept in the comment of the nftables table ------------------------

# state_read prints the recorded state ("key=value ..."), or nothing when the
# table does not exist or carries no state of ours.
state_read() {
	nft list table inet "$nft_table" 2>/dev/null |
		sed -n "s/^[[:space:]]*comment \"$state_tag \(.*\)\".*/\1/p" | head -n 1
}

# state_get STATE KEY DEFAULT
state_get() {
	v=$(printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1)
	echo "${v:-$3}"
}

# ---- ip rules and routes -------------------------------------------------------

# has_rule FAMILY(4|6)
has_rule() {
	[ -n "$(ip -"$1" rule list fwmark "$mark" table "$table" 2>/dev/null)" ]
}

# has_route FAMILY(4|6); ip fails when the table does not exist yet.
has_route() {
	if [ "$1" = 4 ]; then dst=0.0.0.0/0; else dst=::/0; fi
	[ -n "$(ip -"$1" route list table "$table" exact "$dst" type local dev lo 2>/dev/null)" ]
}

add_route() {
	if [ "$1" = 4 ]; then dst=0.0.0.0/0; else dst=::/0; fi
	ip -"$1" route replace local "$dst" dev lo table "$table"
}

del_route() {
	if [ "$1" = 4 ]; then dst=0.0.0.0/0; else dst=::/0; fi
	ip -"$1" route del local "$dst" dev lo table "$table"
}

# want_ipv6 answers whether IPv6 gets the rule and route too.
want_ipv6() {
	[ "$ipv6" = 0 ] && return 1
	if [ -r /proc/sys/net/ipv6/conf/lo/disable_ipv6 ] &&
		[ "$(cat /proc/sys/net/ipv6/conf/lo/disable_ipv6)" = 0 ] &&
		ip link show dev lo 2>/dev/null | grep -q '[<,]UP[,>]'; then
		return 0
	fi
	[ "$ipv6" = 1 ] && die "RTMP_EDGE_IPV6=1 but IPv6 is disabled on lo or lo is down"
	say "IPv6 off or lo down here: IPv4 only"
	return 1
}

# ---- sysctls -------------------------------------------------------------------

sysctl_path() {
	echo "/proc/sys/$(echo "$1" | tr . /)"
}

sysctl_get() {
	cat "$(sysctl_path "$1")"
}

sysctl_set() {
	p=$(sysctl_path "$1")
	if ! { echo "$2" >"$p"; } 2>/dev/null; then
		die "cannot write $1=$2 ($p is read-only here; in docker set it with 'sysctls:' in the compose file)"
	fi
}

# ---- up / down -----------------------------------------------------------------

# undo is run by the EXIT trap when --up fails half-way: it removes what this
# run added, so a failed run leaves the namespace as it found it.
undo=""
on_exit() {
	rc=$?
	if [ "$rc" -ne 0 ] && [ -n "$undo" ]; then
		echo "$prog: failed; undoing this run's changes" >&2
		eval "$undo" || true
	fi
	exit "$rc"
}

up() {
	old=$(state_read)
	if [ -z "$old" ] && nft list table inet "$nft_table" >/dev/null 2>&1; then
		die "table inet $nft_table exists but was not made by this script: not replacing it (remove it with: nft delete table inet $nft_table)"
	fi
	if [ -n "$old" ]; then
		# A re-run: what was recorded stays ours, even if it is present now.
		mark=$(state_get "$old" mark "$mark")
		table=$(state_get "$old" table "$table")
	fi
	rule4=$(state_get "$old" rule4 0)
	route4=$(state_get "$old" route4 0)
	rule6=$(state_get "$old" rule6 0)
	route6=$(state_get "$old" route6 0)
	rp_filter=$(state_get "$old" rp_filter -)
	ip_forward=$(state_get "$old" ip_forward -)
	trap on_exit EXIT

	if ! has_rule 4; then
		ip -4 rule add fwmark "$mark" lookup "$table"
		rule4=1
		undo="ip -4 rule del fwmark $mark lookup $table; $undo"
	fi
	if ! has_route 4; then
		add_route 4
		route4=1
		undo="del_route 4; $undo"
	fi
	if want_ipv6; then
		if ! has_rule 6; then
			ip -6 rule add fwmark "$mark" lookup "$table"
			rule6=1
			undo="ip -6 rule del fwmark $mark lookup $table; $undo"
		fi
		if ! has_route 6; then
			add_route 6
			route6=1
			undo="del_route 6; $undo"
		fi
	fi

	cur=$(sysctl_get net.ipv4.conf.all.rp_filter)
	if [ "$cur" = 1 ]; then
		sysctl_set net.ipv4.conf.all.rp_filter 2
		[ "$rp_filter" = - ] && rp_filter=$cur
		undo="sysctl_set net.ipv4.conf.all.rp_filter $cur; $undo"
	fi
	if [ "$forward" = 1 ]; then
		cur=$(sysctl_get net.ipv4.ip_forward)
		if [ "$cur" != 1 ]; then
			sysctl_set net.ipv4.ip_forward 1
			[ "$ip_forward" = - ] && ip_forward=$cur
			undo="sysctl_set net.ipv4.ip_forward $cur; $undo"
		fi
	fi

	# nft caps comments at 128 bytes; with the largest mark and table this is 123.
	state="mark=$mark table=$table rule4=$rule4 route4=$route4 rule6=$rule6 route6=$route6 rp_filter=$rp_filter ip_forward=$ip_forward"
	# One atomic transaction: create-if-missing, delete, create again, so a
	# re-run replaces the table (and its state) instead of adding duplicates.
	# The socket expression works in the inet family for IPv4 and IPv6 alike.
	nft -f - <<EOF
table inet $nft_table
delete table inet $nft_table
table inet $nft_table {
	comment "$state_tag $state"
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		meta l4proto tcp socket transparent 1 meta mark set $mark accept
	}
}
EOF
	undo=""
	say "up: mark $mark, table $table ($state)"
}

down() {
	st=$(state_read)
	if [ -z "$st" ]; then
		if nft list table inet "$nft_table" >/dev/null 2>&1; then
			die "table inet $nft_table exists but carries no state of this script: not touching it"
		fi
		say "down: nothing to remove (no table inet $nft_table)"
		return 0
	fi
	mark=$(state_get "$st" mark "$mark")
	table=$(state_get "$st" table "$table")
	# Each removal checks first, so a half-removed set-up still comes down.
	if [ "$(state_get "$st" rule4 0)" = 1 ] && has_rule 4; then
		ip -4 rule del fwmark "$mark" lookup "$table"
	fi
	if [ "$(state_get "$st" route4 0)" = 1 ] && has_route 4; then
		del_route 4
	fi
	if [ "$(state_get "$st" rule6 0)" = 1 ] && has_rule 6; then
		ip -6 rule del fwmark "$mark" lookup "$table"
	fi
	if [ "$(state_get "$st" route6 0)" = 1 ] && has_route 6; then
		del_route 6
	fi
	v=$(state_get "$st" rp_filter -)
	[ "$v" = - ] || sysctl_set net.ipv4.conf.all.rp_filter "$v"
	v=$(state_get "$st" ip_forward -)
	[ "$v" = - ] || sysctl_set net.ipv4.ip_forward "$v"
	# The table goes last: it holds the state needed to retry a failed --down.
	nft delete table inet "$nft_table"
	say "down: removed ($st)"
}

mark=${RTMP_EDGE_MARK:-1}
table=${RTMP_EDGE_TABLE:-100}
ipv6=${RTMP_EDGE_IPV6:-auto}
forward=${RTMP_EDGE_FORWARD:-0}

action=up
case ${1:-} in
'' | --up) ;;
--down) action=down ;;
-h | --help)
	usage
	exit 0
	;;
*)
	echo "$prog: unknown argument: $1" >&2
	usage >&2 || true
	exit 2
	;;
esac
[ $# -le 1 ] || die "one argument at most (--up or --down)"

check_params
check_tools
$action
