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
# Then: kill -9 of media01 while it has a live stream and its restart (it must
# get the stream again), and a file in the shared media folder played from
# each server and through the edge. Exits 0 only if all of it worked. Run
# from anywhere, as a user that may listen on port 80 of 127.0.1.2.
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
# start_media N: crtmpserver N (1..3) with its copy of the lab's configuration.
start_media() {
	sed -e "s/ip=\"0\.0\.0\.0\"/ip=\"127.0.2.1$1\"/" \
		-e 's/198\.18\.2\./127.0.2./g' \
		-e "s#rootDirectory=\"[^\"]*\"#rootDirectory=\"$CRTMP_APPS\"#" \
		-e "s#mediaFolder=\"[^\"]*\"#mediaFolder=\"$tmp/media\"#" \
		"$lab/crtmpserver/media.lua" >"$tmp/media0$1.lua"
	# Bounded: a crtmpserver left behind by a killed run ends by itself.
	timeout 1800 "$CRTMPSERVER" "$tmp/media0$1.lua" >>"$tmp/media0$1.log" 2>&1 &
	pids="$pids $!"
	eval "media_pid_$1=$!"
}
for n in 1 2 3; do start_media "$n"; done

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

# plays URL [TRIES]: video frames within 3 s of playing, trying TRIES times [1].
plays() {
	t=0
	while [ "$t" -lt "${2:-1}" ]; do
		t=$((t + 1))
		if ffmpeg -hide_banner -nostdin -rw_timeout 5000000 -i "$1" -t 3 -map 0:v -f null - >"$tmp/plays.log" 2>&1 &&
			grep -q 'frame= *[1-9]' "$tmp/plays.log"; then
			return 0
		fi
		sleep 1
	done
	return 1
}

# A server that restarts gets the live streams again (crtmpserver's own push
# never pushes again to a target that restarted): publish through the edge,
# kill -9 media01 while it has the stream, start it again, and play from it.
echo "$prog: rejoin: publishing rtmp://127.0.1.2/live/rejoin"
timeout 150 ffmpeg -hide_banner -loglevel warning -nostdin -re \
	-f lavfi -i "testsrc2=size=640x360:rate=25" -f lavfi -i "sine=frequency=440" \
	-c:v libx264 -preset veryfast -tune zerolatency -g 50 -pix_fmt yuv420p -c:a aac \
	-t 140 -f flv rtmp://127.0.1.2/live/rejoin >"$tmp/rejoin-publish.log" 2>&1 &
pids="$pids $!"
if ! plays rtmp://127.0.2.11:1935/live/rejoin 10; then
	echo "$prog: rejoin: media01 never had live/rejoin" >&2
	status=1
else
	# The crtmpserver itself, not its timeout wrapper.
	kill -9 "$(pgrep -P "$media_pid_1")"
	echo "$prog: rejoin: media01 killed (kill -9) while it had live/rejoin; starting it again"
	sleep 2
	start_media 1
	wait_listen 127.0.2.11:1935
	start=$(date +%s)
	if plays rtmp://127.0.2.11:1935/live/rejoin 30; then
		echo "$prog: rejoin: media01 has live/rejoin again, $(($(date +%s) - start)) s after its restart: ok"
	else
		echo "$prog: rejoin: media01 did not get live/rejoin again:" >&2
		tail -n 5 "$tmp/plays.log" >&2
		status=1
	fi
fi

# A file in the shared media folder plays from every server, and through
# the edge (a stream live nowhere: any server).
ffmpeg -hide_banner -loglevel error -nostdin -f lavfi -i "testsrc2=size=320x240:rate=25" \
	-c:v libx264 -preset veryfast -g 25 -pix_fmt yuv420p -t 8 -f flv "$tmp/media/clip.flv"
for a in 127.0.2.11 127.0.2.12 127.0.2.13 127.0.1.2; do
	if plays "rtmp://$a:1935/vod/clip.flv" 3; then
		echo "$prog: file: played rtmp://$a:1935/vod/clip.flv: ok"
	else
		echo "$prog: file: play of rtmp://$a:1935/vod/clip.flv FAILED:" >&2
		tail -n 5 "$tmp/plays.log" >&2
		status=1
	fi
done

# What the servers say about the streams, and the edge about its replicas
# (all of its sessions, with their picks, are in edge.log).
for n in 1 2 3; do
	echo "$prog: media0$n:"
	grep -E 'Invalid local stream name|Initiate forward|with name `[^`]*` from protocol IR\([0-9]*\) registered' "$tmp/media0$n.log" |
		sed -e 's/^[^ ]* //' -e 's/(\([0-9]*\))/(N)/g' | sort | uniq -c || true
done
grep -E '"msg":"(replica live|replica dropped|replica rejoined|replication ends)"' "$tmp/edge.log" |
	sed -e 's/^/  edge: /' | cut -c1-300 || true
[ "$status" = 0 ] && echo "$prog: ok" || echo "$prog: FAILED" >&2
exit "$status"
