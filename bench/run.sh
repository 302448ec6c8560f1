#!/usr/bin/env bash
# bench/run.sh — the side-by-side run: the same loads against
#   direct        the media servers themselves
#   haproxy       HAProxy (mode tcp), the seed config with its stick order fixed, timeouts set, option splice-auto
#   edge-rtmp     rtmp-edge, RTMP listener, the equivalent config
#   edge-rtmpt    rtmp-edge, RTMPT listener (clients tunnel through HTTP)
#   haproxy-tls   HAProxy (mode tcp) ending TLS: "bind ... ssl crt", same backend   } rtmps:// clients; loads 1-3
#   edge-rtmps    rtmp-edge, a [rtmps, rtmp] listener with tls: cert/key           } only (throughput, setup, rate)
# and reports, for each, from the same run:
#   relay throughput (aggregate Gbit/s, proxy CPU-seconds per GB), setup latency (connect and first-packet
#   p50/p99 at low load), session rate (new sessions/s at saturation), memory (proxy RSS per session at
#   1k and 10k mostly idle sessions), live realism (500 players of a 2.5 Mbit/s stream from nginx-rtmp, proxy CPU %).
# Output: <out>/results.md (table with the ratios rtmp-edge/HAProxy and rtmp-edge/direct), results.tsv, chart.png.
#
# Usage: bench/run.sh [-short] [-setup-only] [-out DIR]
#   -short   seconds instead of minutes, small counts (what the test suite runs)
#   -setup-only  loads 1-3 only (throughput, set-up latency, session rate): the TLS rows without the long memory and live runs
#   -out     where the results go (default bench/results)
# Loopback only (127.x); every process it starts is stopped on exit; bounded in time.
# Environment: BENCH_PORT_BASE (default 29400) picks the 40 ports it uses.
set -euo pipefail

SHORT=0
SETUP_ONLY=0
OUT=""
while [ $# -gt 0 ]; do
	case "$1" in
	-short) SHORT=1 ;;
	-setup-only) SETUP_ONLY=1 ;;
	-out) OUT="$2"; shift ;;
	*) echo "usage: $0 [-short] [-setup-only] [-out DIR]" >&2; exit 2 ;;
	esac
	shift
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/bench/results}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d /tmp/rtmp-edge-bench.XXXXXX)
BASE=${BENCH_PORT_BASE:-29400}
CLK_TCK=$(getconf CLK_TCK)
PIDS=()

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

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

# --- sizes -----------------------------------------------------------------------------------------
if [ "$SHORT" = 1 ]; then
	TP_PUBS=2 TP_SECS=1s
	LAT_SECS=1s
	SR_CLIENTS=4 SR_SECS=1s
	MEM_SMALL=50 MEM_LARGE=100 MEM_RAMP=500 MEM_SETTLE=1 RTMPT_SETUP=4
	LIVE_PLAYERS=10 LIVE_SECS=2s
else
	TP_PUBS=8 TP_SECS=10s
	LAT_SECS=10s
	SR_CLIENTS=32 SR_SECS=5s
	MEM_SMALL=1000 MEM_LARGE=10000 MEM_RAMP=2000 MEM_SETTLE=3 RTMPT_SETUP=8
	LIVE_PLAYERS=500 LIVE_SECS=15s
fi

# Every session costs the proxy two file descriptors (client and server side). Raise the limit as far
# as this shell may (the hard limit binds root too without CAP_SYS_RESOURCE, e.g. in a container), and
# size the proxies' maxconn and the large memory run to fit in it.
ulimit -n 100000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT=$(ulimit -n)
[ "$FD_LIMIT" = unlimited ] && FD_LIMIT=1048576
PROXY_MAXCONN=$(((FD_LIMIT - 1200) / 2)) # HAProxy: 2 per connection, plus 2 per splice pipe (maxpipes 500)
[ "$PROXY_MAXCONN" -gt 30000 ] && PROXY_MAXCONN=30000
MEM_LARGE_WANTED=$MEM_LARGE
if [ "$MEM_LARGE" -gt $((PROXY_MAXCONN - 500)) ]; then
	MEM_LARGE=$(((PROXY_MAXCONN - 500) / 1000 * 1000))
	log "fd limit $FD_LIMIT: the large memory run uses $MEM_LARGE sessions instead of $MEM_LARGE_WANTED"
fi

# --- ports -----------------------------------------------------------------------------------------
MEDIA_PORTS=($((BASE + 1)) $((BASE + 2)) $((BASE + 3)))
NGINX_PORT=$((BASE + 10))
NGINX_HTTP=$((BASE + 11))
HAP_MEDIA=$((BASE + 20))
HAP_NGINX=$((BASE + 21))
EDGE_MEDIA=$((BASE + 30))
EDGE_MEDIA_T=$((BASE + 31))
EDGE_NGINX=$((BASE + 32))
EDGE_NGINX_T=$((BASE + 33))
HAP_TLS=$((BASE + 22))
EDGE_TLS=$((BASE + 34))
for p in "${MEDIA_PORTS[@]}" $NGINX_PORT $NGINX_HTTP $HAP_MEDIA $HAP_NGINX $HAP_TLS $EDGE_MEDIA $EDGE_MEDIA_T $EDGE_NGINX $EDGE_NGINX_T $EDGE_TLS; do
	if ss -Hltn "sport = :$p" | grep -q .; then
		echo "bench: port $p is in use; set BENCH_PORT_BASE to a free range" >&2
		exit 1
	fi
done

# --- build -----------------------------------------------------------------------------------------
log "building rtmp-bench and rtmp-edge"
(cd "$ROOT" && go build -o "$WORK/rtmp-bench" ./cmd/rtmp-bench)
EDGE_OK=1
if ! (cd "$ROOT" && go build -o "$WORK/rtmp-edge" ./cmd/rtmp-edge) 2>"$WORK/edge-build.log"; then
	EDGE_OK=0
	log "rtmp-edge does not build; its columns will be n/a:"
	cat "$WORK/edge-build.log" >&2
fi
BENCH="$WORK/rtmp-bench"

start() { # start NAME CMD... : run in the background, log to $WORK/NAME.log
	local name=$1
	shift
	"$@" >"$WORK/$name.log" 2>&1 &
	PIDS+=($!)
	eval "PID_${name//-/_}=$!"
}

wait_port() { # wait_port PORT NAME
	local i
	for i in $(seq 1 100); do
		if ss -Hltn "sport = :$1" | grep -q .; then return 0; fi
		sleep 0.1
	done
	echo "bench: $2 did not listen on $1; its log:" >&2
	cat "$WORK/$2.log" >&2 || true
	return 1
}

# --- media servers: three rtmp-bench "source" servers (discard publishes, serve a 2.5 Mbit/s stream) --
for i in 0 1 2; do
	start "media0$((i + 1))" "$BENCH" source -listen "127.0.0.1:${MEDIA_PORTS[$i]}" -bitrate 2500k -maxconn 30000
done
for i in 0 1 2; do wait_port "${MEDIA_PORTS[$i]}" "media0$((i + 1))"; done

NGINX_OK=0
NGINX_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
if command -v nginx >/dev/null && [ -f "$NGINX_MODULE" ]; then
	mkdir -p "$WORK/nginx"
	cat >"$WORK/nginx/nginx.conf" <<NGINX
load_module $NGINX_MODULE;
user root;
worker_processes 1;
worker_rlimit_nofile 8192;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
rtmp {
    server {
        listen 127.0.0.1:$NGINX_PORT;
        chunk_size 4096;
        application live { live on; }
    }
}
http {
    access_log off;
    client_body_temp_path $WORK/nginx/cb; proxy_temp_path $WORK/nginx/p; fastcgi_temp_path $WORK/nginx/f;
    uwsgi_temp_path $WORK/nginx/u; scgi_temp_path $WORK/nginx/s;
    server { listen 127.0.0.1:$NGINX_HTTP; location /stat { rtmp_stat all; } }
}
NGINX
	start nginx "$(command -v nginx)" -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" -g "daemon off;"
	wait_port $NGINX_PORT nginx && NGINX_OK=1
else
	log "nginx with the rtmp module is not installed: live realism will be n/a"
fi

# --- TLS: one self-signed ECDSA P-256 certificate for both proxies (HAProxy wants cert and key in one file) ---
TLS_OK=0
if command -v openssl >/dev/null &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
		-keyout "$WORK/tls.key" -out "$WORK/tls.crt" >"$WORK/openssl.log" 2>&1; then
	cat "$WORK/tls.crt" "$WORK/tls.key" >"$WORK/haproxy.pem"
	TLS_OK=1
else
	log "openssl failed or is missing: the TLS columns will be n/a"
fi
HAP_TLS_FRONTEND=""
EDGE_TLS_LISTENER=""
if [ "$TLS_OK" = 1 ]; then
	HAP_TLS_FRONTEND="frontend ft_rtmps
    bind 127.0.0.1:$HAP_TLS ssl crt $WORK/haproxy.pem
    maxconn $PROXY_MAXCONN
    default_backend bk_rtmp"
	EDGE_TLS_LISTENER="  - name: rtmps
    address: \"127.0.0.1:$EDGE_TLS\"
    protocols: [rtmps, rtmp]
    maxconn: $PROXY_MAXCONN
    backend: media
    tls: { cert: \"$WORK/tls.crt\", key: \"$WORK/tls.key\" }"
fi

# --- HAProxy: the seed config; stick order fixed (only "stick on src"), timeouts set, splice-auto -----
# Deviations from the seed, for a loopback bench: no "source 0.0.0.0 usesrc clientip" (needs TPROXY
# plumbing; rtmp-edge runs with source: edge too), maxconn raised so 10k sessions fit, checks every 1s.
cat >"$WORK/haproxy.cfg" <<HAP
global
    maxconn $PROXY_MAXCONN
    maxpipes 500
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout queue 10s
frontend ft_rtmp
    bind 127.0.0.1:$HAP_MEDIA
    maxconn $PROXY_MAXCONN
    default_backend bk_rtmp
frontend ft_rtmp_nginx
    bind 127.0.0.1:$HAP_NGINX
    maxconn $PROXY_MAXCONN
    default_backend bk_nginx
$HAP_TLS_FRONTEND
backend bk_rtmp
    balance roundrobin
    stick-table type ip size 200k expire 20m
    stick on src
    option splice-auto
    server media01 127.0.0.1:${MEDIA_PORTS[0]} check inter 1s rise 1 fall 3 maxconn 20000 weight 10
    server media02 127.0.0.1:${MEDIA_PORTS[1]} check inter 1s rise 1 fall 3 maxconn 20000 weight 10
    server media03 127.0.0.1:${MEDIA_PORTS[2]} check inter 1s rise 1 fall 3 maxconn 20000 weight 8
backend bk_nginx
    option splice-auto
    server nginx 127.0.0.1:$NGINX_PORT check inter 1s rise 1 fall 3 maxconn 20000
HAP
HAP_OK=0
if ! command -v haproxy >/dev/null; then
	log "haproxy is not installed: its column will be n/a"
elif ! haproxy -c -q -f "$WORK/haproxy.cfg" >"$WORK/haproxy-check.log" 2>&1; then
	log "haproxy rejects the bench config; its column will be n/a:"
	cat "$WORK/haproxy-check.log" >&2
else
	start haproxy "$(command -v haproxy)" -db -f "$WORK/haproxy.cfg"
	wait_port $HAP_MEDIA haproxy && HAP_OK=1
fi

# --- rtmp-edge: the equivalent config --------------------------------------------------------------
cat >"$WORK/edge.yaml" <<EDGE
listeners:
  - { name: rtmp, address: "127.0.0.1:$EDGE_MEDIA", protocols: [rtmp], maxconn: $PROXY_MAXCONN, backend: media }
  - name: rtmpt
    address: "127.0.0.1:$EDGE_MEDIA_T"
    protocols: [rtmpt, rtmp]
    maxconn: $PROXY_MAXCONN
    backend: media
    rtmpt: { max_sessions: 30000, max_sessions_per_ip: 30000 }
  - { name: rtmp-nginx, address: "127.0.0.1:$EDGE_NGINX", protocols: [rtmp], maxconn: $PROXY_MAXCONN, backend: nginx }
  - name: rtmpt-nginx
    address: "127.0.0.1:$EDGE_NGINX_T"
    protocols: [rtmpt, rtmp]
    maxconn: $PROXY_MAXCONN
    backend: nginx
    rtmpt: { max_sessions: 30000, max_sessions_per_ip: 30000 }
$EDGE_TLS_LISTENER
backends:
  - name: media
    balance: roundrobin
    stick: { size: 200000, expire: 20m }
    check: { type: tcp, interval: 1s, rise: 1, fall: 3, timeout: 2s }
    queue_timeout: 10s
    source: edge
    servers:
      - { name: media01, address: "127.0.0.1:${MEDIA_PORTS[0]}", weight: 10, maxconn: 20000 }
      - { name: media02, address: "127.0.0.1:${MEDIA_PORTS[1]}", weight: 10, maxconn: 20000 }
      - { name: media03, address: "127.0.0.1:${MEDIA_PORTS[2]}", weight: 8,  maxconn: 20000 }
  - name: nginx
    check: { type: tcp, interval: 1s, rise: 1, fall: 3, timeout: 2s }
    source: edge
    servers:
      - { name: nginx, address: "127.0.0.1:$NGINX_PORT", maxconn: 20000 }
EDGE
if [ "$EDGE_OK" = 1 ]; then
	if ! "$WORK/rtmp-edge" -check -config "$WORK/edge.yaml" >"$WORK/edge-check.log" 2>&1; then
		log "rtmp-edge rejects the bench config; its columns will be n/a:"
		cat "$WORK/edge-check.log" >&2
		EDGE_OK=0
	else
		start edge "$WORK/rtmp-edge" -config "$WORK/edge.yaml" -log-level warn
		wait_port $EDGE_MEDIA edge && wait_port $EDGE_MEDIA_T edge || EDGE_OK=0
	fi
fi
sleep 1.5 # health checks: every server up (rise 1, interval 1s)

# --- measurement helpers ---------------------------------------------------------------------------
PATHS=(direct haproxy edge-rtmp edge-rtmpt)
# The TLS paths run the set-up and throughput loads (1-3) beside the plain ones.
SETUP_PATHS=("${PATHS[@]}" haproxy-tls edge-rtmps)
declare -A URL NGINX_URL PROXY_PID AVAILABLE
URL[direct]="rtmp://127.0.0.1:${MEDIA_PORTS[0]}/live,rtmp://127.0.0.1:${MEDIA_PORTS[1]}/live,rtmp://127.0.0.1:${MEDIA_PORTS[2]}/live"
URL[haproxy]="rtmp://127.0.0.1:$HAP_MEDIA/live"
URL[edge-rtmp]="rtmp://127.0.0.1:$EDGE_MEDIA/live"
URL[edge-rtmpt]="rtmpt://127.0.0.1:$EDGE_MEDIA_T/live"
URL[haproxy-tls]="rtmps://127.0.0.1:$HAP_TLS/live"
URL[edge-rtmps]="rtmps://127.0.0.1:$EDGE_TLS/live"
NGINX_URL[direct]="rtmp://127.0.0.1:$NGINX_PORT/live"
NGINX_URL[haproxy]="rtmp://127.0.0.1:$HAP_NGINX/live"
NGINX_URL[edge-rtmp]="rtmp://127.0.0.1:$EDGE_NGINX/live"
NGINX_URL[edge-rtmpt]="rtmpt://127.0.0.1:$EDGE_NGINX_T/live"
AVAILABLE[direct]=1
AVAILABLE[haproxy]=$HAP_OK
AVAILABLE[edge-rtmp]=$EDGE_OK
AVAILABLE[edge-rtmpt]=$EDGE_OK
AVAILABLE[haproxy-tls]=$((HAP_OK && TLS_OK))
AVAILABLE[edge-rtmps]=$((EDGE_OK && TLS_OK))
PROXY_PID[haproxy]=${PID_haproxy:-}
PROXY_PID[edge-rtmp]=${PID_edge:-}
PROXY_PID[edge-rtmpt]=${PID_edge:-}
PROXY_PID[haproxy-tls]=${PID_haproxy:-}
PROXY_PID[edge-rtmps]=${PID_edge:-}

TSV="$WORK/results.tsv"
printf 'metric\tpath\tvalue\n' >"$TSV"
put() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$TSV"; } # put METRIC PATH VALUE

cpu_ticks() { # utime+stime of a process, in clock ticks
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] || { echo 0; return; }
	# fields after the ")" of the command name: state is 1, utime is 12, stime is 13
	sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
rss_kb() {
	[ -n "$1" ] && [ -r "/proc/$1/status" ] || { echo 0; return; }
	awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

# bench_run NAME PATH ARGS... : one rtmp-bench load run; JSON summary in $WORK/NAME-PATH.json.
bench_run() {
	local name=$1 path=$2
	shift 2
	local out="$WORK/$name-$path.json"
	if ! "$BENCH" load -json -progress 0 "$@" >"$out" 2>"$WORK/$name-$path.err"; then
		log "$name/$path: rtmp-bench reported errors: $(jq -c '.errors' "$out" 2>/dev/null || tail -3 "$WORK/$name-$path.err")"
	fi
}
j() { jq -r "$1" "$2" 2>/dev/null || echo nan; } # j FILTER FILE

# --- 1. relay throughput: publishers as fast as possible ------------------------------------------------
for path in "${SETUP_PATHS[@]}"; do
	[ "${AVAILABLE[$path]}" = 1 ] || continue
	log "throughput: $path ($TP_PUBS publishers, $TP_SECS)"
	pid=${PROXY_PID[$path]:-}
	t0=$(cpu_ticks "$pid")
	bench_run throughput "$path" -publishers "$TP_PUBS" -bitrate 0 -duration "$TP_SECS" -src 127.0.10.0/24 "${URL[$path]}"
	t1=$(cpu_ticks "$pid")
	f="$WORK/throughput-$path.json"
	put throughput_gbps "$path" "$(j '.bytes_out * 8 / .duration_s / 1e9' "$f")"
	if [ -n "$pid" ]; then
		put cpu_s_per_gb "$path" "$(j "($t1 - $t0) / $CLK_TCK / (.bytes_out / 1e9)" "$f")"
	fi
done

# --- 2. setup latency at low load: one player reconnecting, sessions held 100 ms ----------------------
for path in "${SETUP_PATHS[@]}"; do
	[ "${AVAILABLE[$path]}" = 1 ] || continue
	log "latency: $path ($LAT_SECS)"
	bench_run latency "$path" -publishers 0 -players 1 -streams 1 -reconnect -hold 100ms -duration "$LAT_SECS" -src 127.0.11.0/24 "${URL[$path]}"
	f="$WORK/latency-$path.json"
	put connect_p50_ms "$path" "$(j '.connect_ms.p50' "$f")"
	put connect_p99_ms "$path" "$(j '.connect_ms.p99' "$f")"
	put first_packet_p50_ms "$path" "$(j '.first_packet_ms.p50' "$f")"
	put first_packet_p99_ms "$path" "$(j '.first_packet_ms.p99' "$f")"
done

# --- 3. session rate at saturation: idle publishers reconnecting without pause -----------------------
for path in "${SETUP_PATHS[@]}"; do
	[ "${AVAILABLE[$path]}" = 1 ] || continue
	log "session rate: $path ($SR_CLIENTS clients, $SR_SECS)"
	bench_run sessions "$path" -publishers "$SR_CLIENTS" -idle -reconnect -hold 0 -duration "$SR_SECS" -src 127.0.12.0/24 "${URL[$path]}"
	put sessions_per_s "$path" "$(j '.sessions_per_s' "$WORK/sessions-$path.json")"
done

# --- 4. memory: proxy RSS per session with N mostly idle sessions (idle publishers) ------------------
# restart_proxy PATH: a fresh proxy process for a memory load. A Go process keeps the heap an earlier
# load grew, so a second load in the same process would measure next to nothing.
restart_proxy() {
	local old=${PROXY_PID[$1]:-}
	[ -n "$old" ] || return 0
	kill "$old" 2>/dev/null || true
	wait "$old" 2>/dev/null || true
	case $1 in
	haproxy)
		start haproxy "$(command -v haproxy)" -db -f "$WORK/haproxy.cfg"
		wait_port $HAP_MEDIA haproxy
		PROXY_PID[haproxy]=$PID_haproxy
		;;
	edge-*)
		start edge "$WORK/rtmp-edge" -config "$WORK/edge.yaml" -log-level warn
		wait_port $EDGE_MEDIA edge
		wait_port $EDGE_MEDIA_T edge
		PROXY_PID[edge-rtmp]=$PID_edge
		PROXY_PID[edge-rtmpt]=$PID_edge
		;;
	esac
	sleep 1.5 # health checks
}

mem_run() { # mem_run PATH N
	local path=$1 n=$2 pid secs poll=()
	restart_proxy "$path"
	pid=${PROXY_PID[$path]:-}
	secs=$((n / MEM_RAMP + MEM_SETTLE + 1))
	if [ "$path" = edge-rtmpt ]; then
		# Idle RTMPT clients poll slowly, as Flash does when idle; set-up then takes a few polls.
		poll=(-rtmpt-poll 500ms)
		secs=$((secs + RTMPT_SETUP))
	fi
	local base max=0 rss
	base=$(rss_kb "$pid")
	"$BENCH" load -json -progress 0 -publishers "$n" -idle -ramp "$MEM_RAMP" -duration "${secs}s" "${poll[@]}" \
		-src 127.0.13.0/24 "${URL[$path]}" >"$WORK/mem$n-$path.json" 2>"$WORK/mem$n-$path.err" &
	local lp=$!
	while kill -0 "$lp" 2>/dev/null; do
		rss=$(rss_kb "$pid")
		[ "$rss" -gt "$max" ] && max=$rss
		sleep 0.2
	done
	wait "$lp" || log "mem$n/$path: rtmp-bench reported errors: $(jq -c '.errors' "$WORK/mem$n-$path.json" 2>/dev/null)"
	local up
	up=$(j '.publishers_up' "$WORK/mem$n-$path.json")
	put "sessions_up_$n" "$path" "$up"
	if [ -n "$pid" ] && [ "$up" != nan ] && [ "$up" -gt 0 ]; then
		put "rss_kb_per_session_$n" "$path" "$(awk -v m="$max" -v b="$base" -v n="$up" 'BEGIN {printf "%.2f", (m - b) / n}')"
	fi
	sleep "$MEM_SETTLE" # let the sessions close
}
MEM_PATHS=("${PATHS[@]}")
[ "$SETUP_ONLY" = 1 ] && MEM_PATHS=()
for path in "${MEM_PATHS[@]}"; do
	[ "${AVAILABLE[$path]}" = 1 ] || continue
	for n in $MEM_SMALL $MEM_LARGE; do
		log "memory: $path ($n idle sessions)"
		mem_run "$path" "$n"
	done
done

# --- 5. live realism: players of one 2.5 Mbit/s stream published to nginx-rtmp ---------------------
if [ "$NGINX_OK" = 1 ] && [ "$SETUP_ONLY" = 0 ]; then
	live_secs=${LIVE_SECS%s}
	"$BENCH" load -json -progress 0 -publishers 1 -bitrate 2500k -chunk 4096 -stream real \
		-duration "$(( live_secs * ${#PATHS[@]} * 2 + 10 ))s" "rtmp://127.0.0.1:$NGINX_PORT/live" >"$WORK/live-publisher.json" 2>&1 &
	LIVE_PUB=$!
	PIDS+=($LIVE_PUB)
	sleep 2
	for path in "${PATHS[@]}"; do
		[ "${AVAILABLE[$path]}" = 1 ] || continue
		log "live: $path ($LIVE_PLAYERS players, $LIVE_SECS)"
		pid=${PROXY_PID[$path]:-}
		t0=$(cpu_ticks "$pid")
		w0=$(date +%s.%N)
		bench_run live "$path" -publishers 0 -players "$LIVE_PLAYERS" -streams 1 -stream real -ramp 250 -duration "$LIVE_SECS" \
			-src 127.0.14.0/24 "${NGINX_URL[$path]}"
		w1=$(date +%s.%N)
		t1=$(cpu_ticks "$pid")
		f="$WORK/live-$path.json"
		put live_players_with_media "$path" "$(j '.players_with_media' "$f")"
		put live_in_mbps "$path" "$(j '.in_mbit_s' "$f")"
		if [ -n "$pid" ]; then
			put live_proxy_cpu_pct "$path" "$(awk -v t="$((t1 - t0))" -v hz="$CLK_TCK" -v a="$w0" -v b="$w1" 'BEGIN {printf "%.1f", 100 * t / hz / (b - a)}')"
		fi
		sleep 1
	done
	kill "$LIVE_PUB" 2>/dev/null || true
fi

# --- report ----------------------------------------------------------------------------------------
MODE=full
[ "$SHORT" = 1 ] && MODE=short
[ "$SETUP_ONLY" = 1 ] && MODE="$MODE, loads 1-3 only"
{
	echo "date	$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "mode	$MODE"
	echo "cpu	$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
	echo "kernel	$(uname -r)"
	echo "haproxy	$(haproxy -v 2>/dev/null | head -1 || echo none)"
	echo "nginx	$(nginx -v 2>&1 | head -1 || echo none)"
	echo "edge	$([ "$EDGE_OK" = 1 ] && (cd "$ROOT" && git rev-parse --short HEAD) || echo n/a)"
	echo "fd limit	$FD_LIMIT (proxies' maxconn $PROXY_MAXCONN; large memory run $MEM_LARGE sessions, $MEM_LARGE_WANTED wanted)"
	echo "sizes	throughput $TP_PUBS publishers $TP_SECS; latency 1 player $LAT_SECS; sessions $SR_CLIENTS clients $SR_SECS; memory $MEM_SMALL/$MEM_LARGE; live $LIVE_PLAYERS players $LIVE_SECS"
} >"$WORK/env.tsv"
cp "$TSV" "$OUT/results.tsv"
mkdir -p "$OUT/raw"
cp "$WORK"/haproxy.cfg "$WORK"/edge.yaml "$OUT/raw/"
for f in "$WORK"/*.json; do # the summaries, without the per-client lists (megabytes at 10k clients)
	jq 'del(.clients)' "$f" >"$OUT/raw/$(basename "$f")" 2>/dev/null || cp "$f" "$OUT/raw/"
done
for name in haproxy edge nginx/error; do # what the peers said, for the reader of surprising numbers
	if [ -f "$WORK/$name.log" ]; then tail -n 200 "$WORK/$name.log" >"$OUT/raw/${name//\//-}.log.tail"; fi
done
(cd "$ROOT" && go run ./bench/report -in "$OUT/results.tsv" -env "$WORK/env.tsv" -out "$OUT")
log "results in $OUT/results.md and $OUT/chart.png"
