#!/bin/sh
# loopback-check.sh — the docker-compose lab without docker, for checking it by
# hand where containers cannot run: three real crtmpserver processes with the
# lab's own configurations, the edge with lab/edge.yaml, and lab/client.sh, all
# on 127.x addresses of this machine (README, "The docker-compose lab").
#
# The lab's files are copied and only this is changed in the copies:
#   198.18.2.1x (media01..03)  → 127.0.2.1x, each crtmpserver listening on its own
#   the edge's :1935 and :80   → 127.0.1.2:1935 and 127.0.1.2:80; admin → 127.0.1.2:9935
#   source: clientip           → source: edge (transparent mode needs the policy
#                                routing of the containers; crtmpserver then logs
#                                the edge's 127.0.0.1 instead of the client)
#   rootDirectory, mediaFolder → $CRTMP_APPS and a scratch folder
# and client.sh plays from each server from 127.0.0.1 instead of 198.18.2.10.
#
# Environment (defaults in brackets):
#   CRTMPSERVER  the crtmpserver binary (built from source, or the Ubuntu package's)
#   CRTMP_APPS   its applications directory (<dir>/<name>/lib<name>.so)
#   RTMP_EDGE    the rtmp-edge binary [built with `go build ./cmd/rtmp-edge`]
#   KEEP [0]     1: keep the scratch directory with every log
#   and client.sh's: STREAM [demo], ATTEMPTS [6], SECONDS_PLAYED [5]
# Exits with client.sh's status. Run from anywhere, as a user that may listen on
# port 80 of 127.0.1.2.
set -eu

prog=loopback-check.sh
lab=$(cd "$(dirname "$0")" && pwd)
: "${CRTMPSERVER:?set CRTMPSERVER to the crtmpserver binary}"
: "${CRTMP_APPS:?set CRTMP_APPS to the crtmpserver applications directory}"
keep=${KEEP:-0}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rtmpedge-loopback-XXXXXX")
pids=""

cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	if [ "$keep" = 1 ]; then echo "$prog: logs kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# wait_listen ADDR:PORT: until something listens there (bounded: 20 s).
wait_listen() {
	i=0
	while ! ss -Hltn "src $1" | grep -q .; do
		i=$((i + 1))
		if [ "$i" -gt 100 ]; then
			echo "$prog: nothing listens on $1; logs in $tmp" >&2
			keep=1
			exit 1
		fi
		sleep 0.2
	done
}

edge_bin=${RTMP_EDGE:-}
if [ -z "$edge_bin" ]; then
	edge_bin=$tmp/rtmp-edge
	(cd "$lab/.." && go build -o "$edge_bin" ./cmd/rtmp-edge)
fi

mkdir "$tmp/media"
for n in 1 2 3; do
	addr=127.0.2.1$n
	conf=$lab/crtmpserver/media.lua
	[ "$n" != 3 ] || [ ! -f "$lab/crtmpserver/media03.lua" ] || conf=$lab/crtmpserver/media03.lua
	sed -e "s/ip=\"0\.0\.0\.0\"/ip=\"$addr\"/" \
		-e 's/198\.18\.2\./127.0.2./g' \
		-e "s#rootDirectory=\"[^\"]*\"#rootDirectory=\"$CRTMP_APPS\"#" \
		-e "s#mediaFolder=\"[^\"]*\"#mediaFolder=\"$tmp/media\"#" \
		"$conf" >"$tmp/media0$n.lua"
	# Bounded: a crtmpserver left behind by a killed run ends by itself.
	timeout 1800 "$CRTMPSERVER" "$tmp/media0$n.lua" >"$tmp/media0$n.log" 2>&1 &
	pids="$pids $!"
done

sed -e 's/198\.18\.2\./127.0.2./g' \
	-e 's/address: ":1935"/address: "127.0.1.2:1935"/' \
	-e 's/address: ":80"/address: "127.0.1.2:80"/' \
	-e 's/address: "0\.0\.0\.0:9935"/address: "127.0.1.2:9935"/' \
	-e 's/^\( *\)source: clientip$/\1source: edge/' \
	"$lab/edge.yaml" >"$tmp/edge.yaml"
"$edge_bin" -check -config "$tmp/edge.yaml"
timeout 1800 "$edge_bin" -config "$tmp/edge.yaml" -log-format json >"$tmp/edge.log" 2>&1 &
pids="$pids $!"

for a in 127.0.2.11:1935 127.0.2.12:1935 127.0.2.13:1935 127.0.1.2:1935 127.0.1.2:80; do
	wait_listen "$a"
done
echo "$prog: crtmpserver on 127.0.2.11..13:1935, the edge on 127.0.1.2:1935 and :80 ($tmp)"

status=0
EDGE=127.0.1.2 RTMPT_PORT=80 MEDIA="media01=127.0.2.11 media02=127.0.2.12 media03=127.0.2.13" \
	sh "$lab/client.sh" || status=$?

# What the servers say about the stream (the edge's sessions and their picks
# are in edge.log).
for n in 1 2 3; do
	echo "$prog: media0$n:"
	grep -E 'Invalid local stream name|Initiate forward|with name `[^`]*` from protocol IR\([0-9]*\) registered' "$tmp/media0$n.log" |
		sed -e 's/^[^ ]* //' | sort | uniq -c || true
done
grep '"session end"' "$tmp/edge.log" | sed -e 's/^/  edge: /' | cut -c1-400 || true
exit "$status"
