#!/usr/bin/env bash
# bench/soak.sh — the soak: N sessions with churn (publishers and players, rtmp and rtmpt; each session
# lasts -hold, then its client reconnects) through rtmp-edge in front of three nginx-rtmp media servers on
# 127.0.0.1 (the seed's set-up: media03 takes the uploads and pushes them to media01 and media02), for
# -duration. Every -interval it samples the edge's RSS, heap, goroutines, open fds and session counts
# (from its /metrics: process_resident_memory_bytes, go_goroutines, process_open_fds, …) into soak.tsv;
# then it draws soak.png and writes soak.md (bench/report -soak).
#
# The run has phases, so that growth can be told from the working set of the load:
#   warmup    the same load for -warmup: the heap and the runtime's pools grow to what the load needs
#   drain1    the load stops; wait until the edge holds no session and has run a GC (bounded), then -settle
#   baseline  three samples: the idle edge after the load, the reference
#   churn     the load for -duration
#   drain2    as drain1
#   final     three samples, compared with the baseline
# Verdict (bench/report -soak): FAIL when the sessions did not drain, or when after the churn the
# goroutines, fds or RSS stay above the baseline by more than the tolerance soak.md states; the script
# then exits 1 (after writing every output). A leak of one goroutine or one descriptor per session shows
# as thousands; the tolerances only absorb the runtime's own idle workers and allocator slack.
#
# Usage: bench/soak.sh [-sessions N] [-duration D] [-warmup D] [-hold D] [-interval D] [-settle D] [-out DIR]
#   -sessions  concurrent sessions (default 1000): a fifth publishers, four players per stream
#   -duration  length of the churn phase (default 30m)
#   -warmup    length of the warm-up phase (default 2m)
#   -hold      how long each session lasts before its client reconnects (default 60s)
#   -interval  sampling interval (default 10s)
#   -settle    wait after the sessions drained before sampling (default 20s: fasthttp parks idle
#              workers for up to 10 s, TCP close handshakes finish)
#   -out       where soak.tsv, soak.png, soak.md and raw/soak-* go (default bench/results)
# Loopback only (127.x); every process it starts is stopped on exit; bounded in time
# (warmup + duration + about 10 minutes of drains, GC waits, settles and builds).
# Environment: SOAK_PORT_BASE (default 29500) picks the 10 ports it uses.
set -euo pipefail

SESSIONS=1000
DURATION=30m
WARMUP=2m
HOLD=60s
INTERVAL=10s
SETTLE=20s
OUT=""
usage() { echo "usage: $0 [-sessions N] [-duration D] [-warmup D] [-hold D] [-interval D] [-settle D] [-out DIR]" >&2; exit 2; }
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case "$1" in
	-sessions) SESSIONS=$2 ;;
	-duration) DURATION=$2 ;;
	-warmup) WARMUP=$2 ;;
	-hold) HOLD=$2 ;;
	-interval) INTERVAL=$2 ;;
	-settle) SETTLE=$2 ;;
	-out) OUT=$2 ;;
	*) usage ;;
	esac
	shift 2
done

# secs D: a Go-style duration of s/m/h (e.g. 90s, 30m, 1h) in whole seconds.
secs() {
	case "$1" in
	*h) echo $((${1%h} * 3600)) ;;
	*m) echo $((${1%m} * 60)) ;;
	*s) echo "${1%s}" ;;
	*) echo "soak: duration $1: use s, m or h" >&2; exit 2 ;;
	esac
}
DURATION_S=$(secs "$DURATION")
WARMUP_S=$(secs "$WARMUP")
HOLD_S=$(secs "$HOLD")
INTERVAL_S=$(secs "$INTERVAL")
SETTLE_S=$(secs "$SETTLE")
if ! [ "$SESSIONS" -ge 5 ] 2>/dev/null || [ "$SESSIONS" -gt 5000 ]; then
	echo "soak: -sessions must be 5..5000" >&2
	exit 2
fi
if [ "$DURATION_S" -gt 86400 ] || [ "$DURATION_S" -lt 1 ] || [ "$INTERVAL_S" -lt 1 ] || [ "$HOLD_S" -lt 1 ]; then
	echo "soak: -duration must be 1s..24h, -interval and -hold at least 1s" >&2
	exit 2
fi
PUBLISHERS=$((SESSIONS / 5))
PLAYERS_PER_STREAM=$(((SESSIONS - PUBLISHERS) / PUBLISHERS))
TOTAL=$((PUBLISHERS + PUBLISHERS * PLAYERS_PER_STREAM))
RAMP=$(((TOTAL + 9) / 10)) # every client started within 10 s

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/bench/results}
mkdir -p "$OUT/raw"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d /tmp/rtmp-edge-soak.XXXXXX)
BASE=${SOAK_PORT_BASE:-29500}
PIDS=()

log() { printf '[soak %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Every session costs the edge two descriptors and nginx one; raise the limit as far as this shell may
# (the hard limit binds root too without CAP_SYS_RESOURCE, e.g. in a container).
ulimit -n 100000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT=$(ulimit -n)
[ "$FD_LIMIT" = unlimited ] && FD_LIMIT=1048576
if [ "$FD_LIMIT" -lt $((SESSIONS * 3 + 500)) ]; then
	echo "soak: fd limit $FD_LIMIT is too low for $SESSIONS sessions (need $((SESSIONS * 3 + 500)))" >&2
	exit 1
fi

# --- ports ---------------------------------------------------------------------------------------------
MEDIA_PORTS=($((BASE + 1)) $((BASE + 2)) $((BASE + 3)))
STAT_PORTS=($((BASE + 4)) $((BASE + 5)) $((BASE + 6)))
EDGE_RTMP=$((BASE + 7))
EDGE_RTMPT=$((BASE + 8))
EDGE_ADMIN=$((BASE + 9))
for p in "${MEDIA_PORTS[@]}" "${STAT_PORTS[@]}" $EDGE_RTMP $EDGE_RTMPT $EDGE_ADMIN; do
	if ss -Hltn "sport = :$p" | grep -q .; then
		echo "soak: port $p is in use; set SOAK_PORT_BASE to a free range" >&2
		exit 1
	fi
done

# --- build ---------------------------------------------------------------------------------------------
log "building rtmp-bench and rtmp-edge"
(cd "$ROOT" && go build -o "$WORK/rtmp-bench" ./cmd/rtmp-bench && go build -o "$WORK/rtmp-edge" ./cmd/rtmp-edge)
(cd "$ROOT" && go build -o "$WORK/report" ./bench/report)
EDGE_REV=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown) # what was built, not what is checked out at the end

start() { # start NAME CMD... : run in the background, output to $WORK/NAME.log
	local name=$1
	shift
	"$@" >"$WORK/$name.log" 2>&1 &
	PIDS+=($!)
	eval "PID_${name//-/_}=$!"
}

wait_port() { # wait_port PORT NAME
	local i
	for i in $(seq 1 150); do
		if ss -Hltn "sport = :$1" | grep -q .; then return 0; fi
		sleep 0.1
	done
	echo "soak: $2 did not listen on $1; its log:" >&2
	cat "$WORK/$2.log" >&2 || true
	exit 1
}

# --- three nginx-rtmp media servers --------------------------------------------------------------------
NGINX_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
if ! command -v nginx >/dev/null || [ ! -f "$NGINX_MODULE" ]; then
	echo "soak: needs nginx and libnginx-mod-rtmp (apt-get install -y nginx libnginx-mod-rtmp)" >&2
	exit 1
fi
for i in 0 1 2; do
	d="$WORK/media0$((i + 1))"
	push=""
	[ "$i" = 2 ] && push="push rtmp://127.0.0.1:${MEDIA_PORTS[0]}/live; push rtmp://127.0.0.1:${MEDIA_PORTS[1]}/live;"
	mkdir -p "$d"
	cat >"$d/nginx.conf" <<NGINX
load_module $NGINX_MODULE;
user root;
worker_processes 1;
worker_rlimit_nofile 16384;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 8192; }
rtmp {
    server {
        listen 127.0.0.1:${MEDIA_PORTS[$i]};
        chunk_size 4096;
        application live { live on; $push }
    }
}
http {
    access_log off;
    client_body_temp_path $d/cb; proxy_temp_path $d/p; fastcgi_temp_path $d/f; uwsgi_temp_path $d/u; scgi_temp_path $d/s;
    server { listen 127.0.0.1:${STAT_PORTS[$i]}; location /stat { rtmp_stat all; } }
}
NGINX
	start "media0$((i + 1))" "$(command -v nginx)" -p "$d" -e "$d/error.log" -c "$d/nginx.conf" -g "daemon off;"
done
for i in 0 1 2; do wait_port "${MEDIA_PORTS[$i]}" "media0$((i + 1))"; done

# --- rtmp-edge -----------------------------------------------------------------------------------------
# The seed's set-up: round robin by weight, stick on source IP; media03 takes the uploads and pushes every
# stream to media01 and media02, so a player gets its stream wherever it lands.
cat >"$WORK/edge.yaml" <<EDGE
admin: { address: "127.0.0.1:$EDGE_ADMIN" }
listeners:
  - { name: rtmp, address: "127.0.0.1:$EDGE_RTMP", protocols: [rtmp], maxconn: $((SESSIONS * 2)), backend: media }
  - name: rtmpt
    address: "127.0.0.1:$EDGE_RTMPT"
    protocols: [rtmpt, rtmp]
    maxconn: $((SESSIONS * 2))
    backend: media
    rtmpt: { max_sessions: $((SESSIONS * 2)) }
backends:
  - name: media
    # Pinned: the committed soak results were made routing at connect; a change of the default
    # (route: command is the default now) must not change what the soak measures unannounced.
    route: connect
    balance: roundrobin
    stick: { size: 200000, expire: 20m }
    check: { type: rtmp, interval: 1s, rise: 2, fall: 3, timeout: 2s, app: live }
    retries: 3
    queue_timeout: 10s
    idle_timeout: 60s
    servers:
      - { name: media01, address: "127.0.0.1:${MEDIA_PORTS[0]}", weight: 10, maxconn: $SESSIONS }
      - { name: media02, address: "127.0.0.1:${MEDIA_PORTS[1]}", weight: 10, maxconn: $SESSIONS }
      - { name: media03, address: "127.0.0.1:${MEDIA_PORTS[2]}", weight: 8, maxconn: $SESSIONS, upload: true }
EDGE
"$WORK/rtmp-edge" -check -check-host=false -config "$WORK/edge.yaml" >"$WORK/edge-check.log" 2>&1 || {
	echo "soak: rtmp-edge rejects the soak config:" >&2
	cat "$WORK/edge-check.log" >&2
	exit 1
}
# Session lines (JSON) go to a file: the summary counts how the sessions ended.
"$WORK/rtmp-edge" -config "$WORK/edge.yaml" -log-format json 2>"$WORK/edge.log" >/dev/null &
EDGE_PID=$!
PIDS+=($EDGE_PID)
wait_port $EDGE_RTMP edge
wait_port $EDGE_RTMPT edge
wait_port $EDGE_ADMIN edge

METRICS_URL="http://127.0.0.1:$EDGE_ADMIN/metrics"
scrape() { curl -fsS --max-time 5 "$METRICS_URL" 2>/dev/null || true; }
# metric TEXT NAME: the sum of NAME's samples (all label sets); nan when absent.
metric() {
	awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $NF; f = 1 } END { if (f) printf "%.0f", s; else print "nan" }' <<<"$1"
}
for i in $(seq 1 100); do # the checks see every server up (rise 2 × 1 s)
	[ "$(metric "$(scrape)" rtmp_edge_server_up)" = 3 ] && break
	sleep 0.2
done

# --- the sampler ---------------------------------------------------------------------------------------
TSV="$WORK/soak.tsv"
PHASE_FILE="$WORK/phase"
echo warmup >"$PHASE_FILE"
printf 't_s\tphase\trss_kb\theap_inuse_kb\tgoroutines\tfds\tsessions_active\trtmpt_sessions\tsessions_ended\n' >"$TSV"
T0=$(date +%s)
sample() {
	local m rss heap
	m=$(scrape)
	rss=$(metric "$m" process_resident_memory_bytes)
	heap=$(metric "$m" go_memstats_heap_inuse_bytes)
	[ "$rss" != nan ] && rss=$((rss / 1024))
	[ "$heap" != nan ] && heap=$((heap / 1024))
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(($(date +%s) - T0))" "$(cat "$PHASE_FILE")" "$rss" "$heap" \
		"$(metric "$m" go_goroutines)" "$(metric "$m" process_open_fds)" "$(metric "$m" rtmp_edge_sessions_active)" \
		"$(metric "$m" rtmp_edge_rtmpt_sessions)" "$(metric "$m" rtmp_edge_sessions_total)" >>"$TSV"
}
sampler() {
	while kill -0 "$EDGE_PID" 2>/dev/null; do
		sample
		sleep "$INTERVAL_S"
	done
}
sampler &
PIDS+=($!)

# --- the load ------------------------------------------------------------------------------------------
# load NAME SECONDS: the churn load: publishers and players, each client on rtmp:// or rtmpt:// in turn
# (targets cycle by client), sessions held -hold and then set up anew, from 254 source addresses.
load() {
	"$WORK/rtmp-bench" load -json -progress 10s -publishers "$PUBLISHERS" -players "$PLAYERS_PER_STREAM" \
		-bitrate 100k -fps 10 -gop 20 -chunk 4096 -reconnect -hold "$HOLD" -ramp "$RAMP" -duration "${2}s" \
		-rtmpt-poll 200ms -src 127.0.20.0/24 -stream soak \
		"rtmp://127.0.0.1:$EDGE_RTMP/live,rtmpt://127.0.0.1:$EDGE_RTMPT/live" \
		>"$WORK/$1.json" 2>"$WORK/$1.err" || true # errors are reported in the summary, not fatal
}

# wait_gc NAME: wait (at most 150 s) for a garbage collection after this moment. An idle Go process
# allocates too little to trigger one, and the runtime forces one only every 2 minutes; until then the
# heap and RSS still hold the load's garbage, and an idle sample would measure when the last GC ran,
# not what the edge keeps. After the GC the runtime's scavenger returns the freed pages within seconds.
wait_gc() {
	local gc0 gc i
	gc0=$(metric "$(scrape)" go_gc_duration_seconds_count)
	for i in $(seq 1 150); do
		gc=$(metric "$(scrape)" go_gc_duration_seconds_count)
		if [ "$gc" != "$gc0" ]; then
			log "$1: GC after ${i}s"
			return 0
		fi
		sleep 1
	done
	log "$1: no GC within 150 s"
}

# drain NAME: wait (at most 120 s) until the edge holds no client connection and no tunnel, then settle.
drain() {
	echo "$1" >"$PHASE_FILE"
	local i m a t
	for i in $(seq 1 120); do
		m=$(scrape)
		a=$(metric "$m" rtmp_edge_sessions_active)
		t=$(metric "$m" rtmp_edge_rtmpt_sessions)
		if [ "$a" = 0 ] && [ "$t" = 0 ]; then
			log "$1: drained after ${i}s; waiting for a GC, then settling ${SETTLE_S}s"
			wait_gc "$1"
			sleep "$SETTLE_S"
			return 0
		fi
		sleep 1
	done
	log "$1: the edge still holds $a connections and $t tunnels after 120 s"
	echo "drain_timeout	$1" >>"$WORK/env.tsv"
	sleep "$SETTLE_S"
}

# hold_phase NAME: three samples of an idle edge, taken by the sampler.
hold_phase() {
	echo "$1" >"$PHASE_FILE"
	sleep $((INTERVAL_S * 3 + 1))
}

: >"$WORK/env.tsv"
log "warm-up: $TOTAL sessions ($PUBLISHERS publishers, $PLAYERS_PER_STREAM players per stream), hold $HOLD, ${WARMUP_S}s"
load warmup "$WARMUP_S"
drain drain1
hold_phase baseline
log "churn: $TOTAL sessions, hold $HOLD, ${DURATION_S}s"
echo churn >"$PHASE_FILE"
load churn "$DURATION_S"
drain drain2
hold_phase final
kill "$EDGE_PID" 2>/dev/null || true
wait "$EDGE_PID" 2>/dev/null || true

# --- report --------------------------------------------------------------------------------------------
j() { jq -r "$1" "$2" 2>/dev/null || echo nan; } # j FILTER FILE
{
	echo "date	$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "cpu	$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
	echo "kernel	$(uname -r)"
	echo "nginx	$(nginx -v 2>&1 | head -1)"
	echo "edge	$EDGE_REV"
	echo "load	$TOTAL sessions ($PUBLISHERS publishers at 100 kbit/s, $PLAYERS_PER_STREAM players per stream; half rtmp, half rtmpt), each held $HOLD then set up anew"
	echo "phases	warm-up ${WARMUP_S}s, churn ${DURATION_S}s, settle ${SETTLE_S}s, samples every ${INTERVAL_S}s"
	echo "churn sessions	$(j '.sessions' "$WORK/churn.json") set up ($(j '.sessions_per_s | floor' "$WORK/churn.json")/s), client errors $(j '.errors_total' "$WORK/churn.json") $(j '.errors | tostring' "$WORK/churn.json")"
	echo "churn players with media	$(j '.players_with_media' "$WORK/churn.json") of $(j '.players' "$WORK/churn.json") player clients received media"
	echo "warm-up sessions	$(j '.sessions' "$WORK/warmup.json") set up, client errors $(j '.errors_total' "$WORK/warmup.json")"
	echo "edge session ends	$(jq -rR 'fromjson? | select(.msg == "session end") | .end' "$WORK/edge.log" 2>/dev/null | sed "s/:.*//" | sort | uniq -c | sort -rn | awk '{printf "%s%s: %s", (NR > 1 ? ", " : ""), substr($0, index($0, $2)), $1}')"
	echo "edge panics	$(grep -c '"panic' "$WORK/edge.log" || true)"
	cat "$WORK/env.tsv"
} >"$WORK/env-all.tsv"
cp "$TSV" "$OUT/soak.tsv"
cp "$WORK/edge.yaml" "$OUT/raw/soak-edge.yaml"
for f in warmup churn; do
	jq 'del(.clients)' "$WORK/$f.json" >"$OUT/raw/soak-$f.json" 2>/dev/null || cp "$WORK/$f.json" "$OUT/raw/soak-$f.json" 2>/dev/null || true
	tail -n 20 "$WORK/$f.err" >"$OUT/raw/soak-$f.progress.tail" 2>/dev/null || true
done
grep -v '"msg":"session \(start\|end\)"' "$WORK/edge.log" | tail -n 200 >"$OUT/raw/soak-edge.log.tail" || true
STATUS=0
"$WORK/report" -soak "$OUT/soak.tsv" -env "$WORK/env-all.tsv" -out "$OUT" || STATUS=$?
log "results in $OUT/soak.md and $OUT/soak.png (verdict exit status $STATUS)"
exit $STATUS
