#!/bin/sh
# client.sh — the ffmpeg client of the docker-compose lab (profile "client").
# Publishes a test pattern through the edge, plays it back over RTMP (port 1935)
# and over RTMPT (port 80), and exits 0 only if both plays received video.
#
# Environment (defaults in brackets):
#   EDGE [198.18.1.2]   the edge's address on the clients network
#   RTMPT_PORT [80]     the edge's port that answers RTMPT
#   APP [live]          application; STREAM [demo] stream name
#   SECONDS_PLAYED [5]  how long each play reads
set -eu

prog=client.sh
edge=${EDGE:-198.18.1.2}
rtmpt_port=${RTMPT_PORT:-80}
app=${APP:-live}
stream=${STREAM:-demo}
played=${SECONDS_PLAYED:-5}
tmp=$(mktemp -d)
publisher=""

cleanup() {
	[ -z "$publisher" ] || kill "$publisher" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# The publisher: test pattern + tone, H.264/AAC, as an encoder would send it.
# ffmpeg's flashVer "FMLE/3.0 (compatible; Lavf…)" tells the edge it is an
# upload, so it goes to media03 (the upload server).
echo "$prog: publishing rtmp://$edge/$app/$stream"
ffmpeg -hide_banner -loglevel warning -nostdin -re \
	-f lavfi -i "testsrc2=size=640x360:rate=25" \
	-f lavfi -i "sine=frequency=440:sample_rate=44100" \
	-c:v libx264 -preset veryfast -tune zerolatency -g 50 -pix_fmt yuv420p \
	-c:a aac -b:a 96k \
	-f flv "rtmp://$edge/$app/$stream" >"$tmp/publish.log" 2>&1 &
publisher=$!

# play URL NAME: read the stream for $played seconds; succeed if video frames came.
play() {
	ffmpeg -hide_banner -nostdin -rw_timeout 10000000 -i "$1" \
		-t "$played" -map 0:v -f null - >"$tmp/$2.log" 2>&1 &&
		grep -q 'frame= *[1-9]' "$tmp/$2.log"
}

# The stream must first reach media03 and be pushed on to media01 and
# media02; a play routed to one of them early finds nothing. Try a few times.
try() {
	i=1
	while [ "$i" -le 6 ]; do
		if ! kill -0 "$publisher" 2>/dev/null; then
			echo "$prog: the publisher stopped:" >&2
			cat "$tmp/publish.log" >&2
			return 1
		fi
		sleep 2
		if play "$1" "$2"; then
			echo "$prog: played $1: ok"
			return 0
		fi
		echo "$prog: played $1: no video yet (attempt $i)"
		i=$((i + 1))
	done
	echo "$prog: play of $1 failed:" >&2
	tail -n 20 "$tmp/$2.log" >&2
	return 1
}

try "rtmp://$edge/$app/$stream" play-rtmp
try "rtmpt://$edge:$rtmpt_port/$app/$stream" play-rtmpt
echo "$prog: done: see the client address in the media servers' logs (lab/README.md)"
