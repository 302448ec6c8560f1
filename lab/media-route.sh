#!/bin/sh
# media-route.sh — start of the media containers of the docker-compose lab:
# send this container's default route through the edge, then run the command
# given (crtmpserver, with privileges dropped: see lab/media.Dockerfile).
#
# Why: the edge dials the media servers from each client's own address
# (source: clientip). The answers, addressed to that client, must go back
# through the edge, which hands them to its transparent socket
# (lab/transparent-setup.sh); sent anywhere else they would reach no one.
# Docker gives the container a default route via the network's bridge, so it
# is replaced here. The media network's own subnet stays on-link, so media03's
# pushes to media01 and media02 go straight to them.
#
# Environment: EDGE_ADDR, the edge's address on the media network (required).
# Needs CAP_NET_ADMIN (cap_add: NET_ADMIN in docker-compose.yml).
set -eu

prog=media-route.sh
edge=${EDGE_ADDR:-}
[ -n "$edge" ] || {
	echo "$prog: EDGE_ADDR is not set: the edge's address on the media network" >&2
	exit 1
}
command -v ip >/dev/null 2>&1 || {
	echo "$prog: ip not found: install iproute2" >&2
	exit 1
}
if ! ip -4 route replace default via "$edge"; then
	echo "$prog: cannot route through $edge: the container needs cap_add NET_ADMIN, and $edge must be on one of its networks" >&2
	exit 1
fi
echo "$prog: default route now: $(ip -4 route show default)"

[ $# -gt 0 ] || exit 0
exec "$@"
