#!/bin/sh
# client.sh — the ffmpeg client of the docker-compose lab (profile "client").
# Publishes a test pattern through the edge, then plays it back through the
# edge over RTMP (port 1935) and RTMPT (port 80), and directly from EVERY media
# server, and exits 0 only if every one of those plays received video. A
# server that lacks the stream fails the check by name: that is what a viewer
# balanced to it would see.
#
# Environment (defaults in brackets):
#   EDGE [198.18.1.2]   the edge's address on the clients network
#   RTMPT_PORT [80]     the edge's port that answers RTMPT
#   MEDIA [media01=198.18.2.11 media02=198.18.2.12 media03=198.18.2.13]
#                       the media servers, name=address, each played from directly
#                       (port 1935); empty: only the plays through the edge
#   APP [live]          application; STREAM [demo] stream name
#   SECONDS_PLAYED [5]  how long each play reads
#   ATTEMPTS [6]        tries per play, 2 s apart, before it counts as failed
set -eu

prog=client.sh
edge=${EDGE:-198.18.1.2}
rtmpt_port=${RTMPT_PORT:-80}
media=${MEDIA-media01=198.18.2.11 media02=198.18.2.12 media03=198.18.2.13}
app=${APP:-live}
stream=${STREAM:-demo}
played=${SECONDS_PLAYED:-5}
attempts=${ATTEMPTS:-6}
tmp=$(mktemp -d)
publisher=""

cleanup() {
	[ -z "$publisher" ] || kill "$publisher" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# The publisher: test pattern + tone, H.264/AAC, as an encoder would send it.
# The edge routes on its real publish command, sends it to the upload server
# (media03) and publishes the same stream to media01 and media02 itself.
echo "$prog: publishing rtmp://$edge/$app/$stream"
ffmpeg -hide_banner -loglevel warning -nostdin -re \
	-f lavfi -i "testsrc2=size=640x360:rate=25" \
	-f lavfi -i "sine=frequency=440:sample_rate=44100" \
	-c:v libx264 -preset veryfast -tune zerolatency -g 50 -pix_fmt yuv420p \
	-c:a aac -b:a 96k \
	-f flv "rtmp://$edge/$app/$stream" >"$tmp/publish.log" 2>&1 &
publisher=$!

# play URL NAME: read the stream for $played seconds; succeed if video frames
# came. -rw_timeout bounds a play of a stream the server does not have (a
# live play of an unknown stream waits for a publisher that never comes).
play() {
	ffmpeg -hide_banner -nostdin -rw_timeout 10000000 -i "$1" \
		-t "$played" -map 0:v -f null - >"$tmp/$2.log" 2>&1 &&
		grep -q 'frame= *[1-9]' "$tmp/$2.log"
}

# try NAME URL: play, a few times (the stream takes a moment to reach
# media03, and the edge's replica sessions to reach media01 and media02);
# report the outcome.
try() {
	i=1
	while [ "$i" -le "$attempts" ]; do
		if ! kill -0 "$publisher" 2>/dev/null; then
			echo "$prog: the publisher stopped:" >&2
			cat "$tmp/publish.log" >&2
			return 1
		fi
		sleep 2
		if play "$2" "$1"; then
			echo "$prog: $1: played $2: ok"
			return 0
		fi
		echo "$prog: $1: played $2: no video yet (attempt $i)"
		i=$((i + 1))
	done
	echo "$prog: $1: play of $2 FAILED:" >&2
	tail -n 20 "$tmp/$1.log" >&2
	return 1
}

# Every play runs, so that one report names every server without the stream.
failed=""
try edge-rtmp "rtmp://$edge/$app/$stream" || failed="$failed edge-rtmp"
try edge-rtmpt "rtmpt://$edge:$rtmpt_port/$app/$stream" || failed="$failed edge-rtmpt"
for m in $media; do
	name=${m%%=*}
	addr=${m#*=}
	if [ -z "$name" ] || [ -z "$addr" ] || [ "$name" = "$m" ]; then
		echo "$prog: MEDIA entry \"$m\": want name=address" >&2
		exit 2
	fi
	try "$name" "rtmp://$addr:1935/$app/$stream" || failed="$failed $name"
done

if [ -n "$failed" ]; then
	echo "$prog: FAILED: no video from:$failed" >&2
	exit 1
fi
echo "$prog: done: every server has $app/$stream; see the client address in the media servers' logs (README, \"The docker-compose lab\")"
