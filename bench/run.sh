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
#   1k and 10k mostly idle sessions), live realism (500 players of a 2.5 Mbit/s stream from nginx-rtmp: proxy CPU %,
#   RSS per live session), many live players (10,000 players of a 256 kbit/s stream, or as many as the fd limit
#   allows: proxy CPU %, RSS per live session, players fed to the end), and replication (publishers at 2.5 Mbit/s
#   plain and replicated by the edge to the other media servers: edge CPU per publisher and per replica).
# Besides these paths, a second rtmp-edge process (path edge-cmd) has its backends route on the real publish/play
# (route: command) and runs loads 1-3 and the live loads beside the edge that routes at connect (edge-rtmp).
# Output: <out>/results.md (table with the ratios rtmp-edge/HAProxy and rtmp-edge/direct, the TLS, route: command
# and replication tables), results.tsv, chart.png.
#
# Usage: bench/run.sh [-short] [-only ROWS] [-paths PATHS] [-setup-only] [-out DIR]
#   -short   seconds instead of minutes, small counts (what the test suite runs)
#   -only    comma-separated loads to run, of: throughput,latency,sessions,memory,live,many,replicate
#            (default: all); "setup" means throughput,latency,sessions
#   -paths   comma-separated paths to run them on, of: direct,haproxy,edge-rtmp,edge-rtmpt,haproxy-tls,edge-rtmps,edge-cmd
#            (default: all; the replication load always uses its own edge, edge-repl, beside haproxy and edge-cmd)
#   -setup-only  the same as -only setup: the TLS rows without the long memory and live runs
#   -out     where the results go (default bench/results)
# Loopback only (127.x); every process it starts is stopped on exit; bounded in time.
# Environment: BENCH_PORT_BASE (default 29400) picks the 40 ports it uses; BENCH_MANY_PLAYERS and
# BENCH_MANY_RAMP change the many-players load's larger count and its ramp; BENCH_COMMIT names the
# commit under test when the tree has no .git.
set -euo pipefail

SHORT=0
ONLY=all
ONLY_PATHS=all
OUT=""
USAGE="usage: $0 [-short] [-only throughput,latency,sessions,memory,live,many,replicate|setup] [-paths direct,haproxy,edge-rtmp,edge-rtmpt,haproxy-tls,edge-rtmps,edge-cmd] [-setup-only] [-out DIR]"
while [ $# -gt 0 ]; do
	case "$1" in
	-short) SHORT=1 ;;
	-setup-only) ONLY=setup ;;
	-only) [ $# -ge 2 ] || { echo "$USAGE" >&2; exit 2; }; ONLY="$2"; shift ;;
	-paths) [ $# -ge 2 ] || { echo "$USAGE" >&2; exit 2; }; ONLY_PATHS="$2"; shift ;;
	-out) [ $# -ge 2 ] || { echo "$USAGE" >&2; exit 2; }; OUT="$2"; shift ;;
	*) echo "$USAGE" >&2; exit 2 ;;
	esac
	shift
done
ONLY=${ONLY//setup/throughput,latency,sessions}
for r in ${ONLY//,/ }; do
	case $r in all | throughput | latency | sessions | memory | live | many | replicate) ;; *) echo "bench: unknown load $r; $USAGE" >&2; exit 2 ;; esac
done
for p in ${ONLY_PATHS//,/ }; do
	case $p in all | direct | haproxy | edge-rtmp | edge-rtmpt | haproxy-tls | edge-rtmps | edge-cmd) ;; *) echo "bench: unknown path $p; $USAGE" >&2; exit 2 ;; esac
done
want_load() { [ "$ONLY" = all ] || [[ ",$ONLY," == *",$1,"* ]]; }
want_path() { [ "$ONLY_PATHS" = all ] || [[ ",$ONLY_PATHS," == *",$1,"* ]]; }

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
	MANY_SMALL=50 MANY_PLAYERS=100 MANY_RAMP=200 MANY_SETTLE=1 MANY_MEASURE=2
	REPL_PUBS=2 REPL_SETTLE=2 REPL_MEASURE=2
else
	TP_PUBS=8 TP_SECS=10s
	LAT_SECS=10s
	SR_CLIENTS=32 SR_SECS=5s
	# MEM_SETTLE: on a loaded machine a proxy sets up fewer than 2000 sessions/s, and a load that ends
	# before every session is up divides the memory by fewer sessions than it was sized for.
	MEM_SMALL=1000 MEM_LARGE=10000 MEM_RAMP=2000 MEM_SETTLE=8 RTMPT_SETUP=8
	LIVE_PLAYERS=500 LIVE_SECS=15s
	# MANY_SMALL: a count this 2-vCPU machine carries in full on every path (measured: 1000 players of
	# 256 kbit/s cost HAProxy about half a core, so 10,000 would need about five cores for the proxy alone).
	MANY_SMALL=1000 MANY_PLAYERS=10000 MANY_RAMP=250 MANY_SETTLE=5 MANY_MEASURE=10
	REPL_PUBS=8 REPL_SETTLE=4 REPL_MEASURE=10
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
# BENCH_MANY_PLAYERS / BENCH_MANY_RAMP override the many-players load's count and ramp (players/s).
MANY_PLAYERS=${BENCH_MANY_PLAYERS:-$MANY_PLAYERS}
MANY_RAMP=${BENCH_MANY_RAMP:-$MANY_RAMP}
# The many-players load: the same bound (a proxy holds two descriptors per player), a few hundred kept
# for health checks, splice pipes and the other listeners.
MANY_WANTED=$MANY_PLAYERS
if [ "$MANY_PLAYERS" -gt $((PROXY_MAXCONN - 400)) ]; then
	MANY_PLAYERS=$(((PROXY_MAXCONN - 400) / 100 * 100))
	log "fd limit $FD_LIMIT: the many-players load runs $MANY_PLAYERS players instead of $MANY_WANTED"
fi
NGINX_CONNS=$((FD_LIMIT - 200))
[ "$NGINX_CONNS" -gt 30000 ] && NGINX_CONNS=30000

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
CMD_MEDIA=$((BASE + 35))
CMD_NGINX=$((BASE + 36))
REPL_MEDIA=$((BASE + 37))
CMD_ADMIN=$((BASE + 38))
for p in "${MEDIA_PORTS[@]}" $NGINX_PORT $NGINX_HTTP $HAP_MEDIA $HAP_NGINX $HAP_TLS $EDGE_MEDIA $EDGE_MEDIA_T $EDGE_NGINX $EDGE_NGINX_T $EDGE_TLS \
	$CMD_MEDIA $CMD_NGINX $REPL_MEDIA $CMD_ADMIN; do
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
# Their counters every second in their logs: the replication load counts publishing sessions there.
for i in 0 1 2; do
	start "media0$((i + 1))" "$BENCH" source -listen "127.0.0.1:${MEDIA_PORTS[$i]}" -bitrate 2500k -maxconn 30000 -stats 1s
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
worker_rlimit_nofile $FD_LIMIT;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections $NGINX_CONNS; }
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
# edge_backends ROUTE [EXTRA]: the two backends (media, nginx) with "route: ROUTE" and EXTRA lines in
# the media backend. The route is pinned so that a change of its default does not change the bench.
# preconnect: 8 keeps up to 8 connections per server dialed and RTMP-handshaken ahead of need; it needs
# source: edge (as here), a transparent source or a PROXY header cannot have one. HAProxy (mode tcp)
# has no equivalent. handshake_timeout: 10s is the clients' own patience (rtmp-bench -timeout): HAProxy
# passes the media server's handshake through with no timeout of its own but its 60 s server timeout,
# so a saturated nginx-rtmp would otherwise lose players through the edge (default 5 s) that HAProxy keeps.
edge_backends() {
	cat <<EDGE
backends:
  - name: media
    route: $1
    balance: roundrobin
    stick: { size: 200000, expire: 20m }
    check: { type: tcp, interval: 1s, rise: 1, fall: 3, timeout: 2s }
    queue_timeout: 10s
    source: edge
    preconnect: 8
    handshake_timeout: 10s
${2:-}
    servers:
      - { name: media01, address: "127.0.0.1:${MEDIA_PORTS[0]}", weight: 10, maxconn: 20000 }
      - { name: media02, address: "127.0.0.1:${MEDIA_PORTS[1]}", weight: 10, maxconn: 20000 }
      - { name: media03, address: "127.0.0.1:${MEDIA_PORTS[2]}", weight: 8,  maxconn: 20000 }
  - name: nginx
    route: $1
    check: { type: tcp, interval: 1s, rise: 1, fall: 3, timeout: 2s }
    source: edge
    preconnect: 8
    handshake_timeout: 10s
    servers:
      - { name: nginx, address: "127.0.0.1:$NGINX_PORT", maxconn: 20000 }
EDGE
}
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
$(edge_backends connect)
EDGE
# A second edge process, the same pools routed on the real publish/play (issue 10's rows).
# Its admin endpoint tells, at the end, how its sessions were relayed (spliced or not).
cat >"$WORK/edge-cmd.yaml" <<EDGE
admin: { address: "127.0.0.1:$CMD_ADMIN" }
listeners:
  - { name: rtmp, address: "127.0.0.1:$CMD_MEDIA", protocols: [rtmp], maxconn: $PROXY_MAXCONN, backend: media }
  - { name: rtmp-nginx, address: "127.0.0.1:$CMD_NGINX", protocols: [rtmp], maxconn: $PROXY_MAXCONN, backend: nginx }
$(edge_backends command)
EDGE
# A third, for the replication load only: route: command and each publish replicated to the other servers.
cat >"$WORK/edge-repl.yaml" <<EDGE
listeners:
  - { name: rtmp, address: "127.0.0.1:$REPL_MEDIA", protocols: [rtmp], maxconn: $PROXY_MAXCONN, backend: media }
$(edge_backends command "    replicate: { to: all, buffer: 4MiB, max_lag: 5s }")
EDGE
NOTES=() # lines for the report's notes
CMD_OK=0
REPL_OK=0
if [ "$EDGE_OK" = 1 ]; then
	if ! "$WORK/rtmp-edge" -check -config "$WORK/edge.yaml" >"$WORK/edge-check.log" 2>&1; then
		log "rtmp-edge rejects the bench config; its columns will be n/a:"
		cat "$WORK/edge-check.log" >&2
		EDGE_OK=0
	else
		start edge "$WORK/rtmp-edge" -config "$WORK/edge.yaml" -log-level warn
		wait_port $EDGE_MEDIA edge && wait_port $EDGE_MEDIA_T edge || EDGE_OK=0
	fi
	if ! "$WORK/rtmp-edge" -check -config "$WORK/edge-cmd.yaml" >"$WORK/edge-cmd-check.log" 2>&1; then
		log "rtmp-edge rejects the route: command config; its column will be n/a:"
		cat "$WORK/edge-cmd-check.log" >&2
		NOTES+=("route: command: n/a, rtmp-edge -check rejects its config: $(tr '\n' ' ' <"$WORK/edge-cmd-check.log" | cut -c1-300)")
	else
		if want_path edge-cmd || want_load replicate; then
			start edge_cmd "$WORK/rtmp-edge" -config "$WORK/edge-cmd.yaml" -log-level warn
			wait_port $CMD_MEDIA edge_cmd && CMD_OK=1
		fi
	fi
	if ! "$WORK/rtmp-edge" -check -config "$WORK/edge-repl.yaml" >"$WORK/edge-repl-check.log" 2>&1; then
		log "rtmp-edge rejects the replicate config; the replication column will be n/a"
		NOTES+=("replication: the replicated column is n/a, rtmp-edge -check rejects \`replicate: { to: all, buffer: 4MiB, max_lag: 5s }\`: $(tr '\n' ' ' <"$WORK/edge-repl-check.log" | cut -c1-300)")
	else
		REPL_OK=1 # started by the replication load itself
	fi
fi
sleep 1.5 # health checks: every server up (rise 1, interval 1s)

# --- measurement helpers ---------------------------------------------------------------------------
PATHS=(direct haproxy edge-rtmp edge-rtmpt)
# The TLS paths run the set-up and throughput loads (1-3) beside the plain ones, and so does the
# route: command edge (it also runs the live loads).
SETUP_PATHS=("${PATHS[@]}" haproxy-tls edge-rtmps edge-cmd)
declare -A URL NGINX_URL PROXY_PID AVAILABLE
URL[direct]="rtmp://127.0.0.1:${MEDIA_PORTS[0]}/live,rtmp://127.0.0.1:${MEDIA_PORTS[1]}/live,rtmp://127.0.0.1:${MEDIA_PORTS[2]}/live"
URL[haproxy]="rtmp://127.0.0.1:$HAP_MEDIA/live"
URL[edge-rtmp]="rtmp://127.0.0.1:$EDGE_MEDIA/live"
URL[edge-rtmpt]="rtmpt://127.0.0.1:$EDGE_MEDIA_T/live"
URL[haproxy-tls]="rtmps://127.0.0.1:$HAP_TLS/live"
URL[edge-rtmps]="rtmps://127.0.0.1:$EDGE_TLS/live"
URL[edge-cmd]="rtmp://127.0.0.1:$CMD_MEDIA/live"
URL[edge-repl]="rtmp://127.0.0.1:$REPL_MEDIA/live"
NGINX_URL[direct]="rtmp://127.0.0.1:$NGINX_PORT/live"
NGINX_URL[haproxy]="rtmp://127.0.0.1:$HAP_NGINX/live"
NGINX_URL[edge-rtmp]="rtmp://127.0.0.1:$EDGE_NGINX/live"
NGINX_URL[edge-rtmpt]="rtmpt://127.0.0.1:$EDGE_NGINX_T/live"
NGINX_URL[edge-cmd]="rtmp://127.0.0.1:$CMD_NGINX/live"
AVAILABLE[direct]=1
AVAILABLE[haproxy]=$HAP_OK
AVAILABLE[edge-rtmp]=$EDGE_OK
AVAILABLE[edge-rtmpt]=$EDGE_OK
AVAILABLE[haproxy-tls]=$((HAP_OK && TLS_OK))
AVAILABLE[edge-rtmps]=$((EDGE_OK && TLS_OK))
AVAILABLE[edge-cmd]=$CMD_OK
PROXY_PID[haproxy]=${PID_haproxy:-}
PROXY_PID[edge-rtmp]=${PID_edge:-}
PROXY_PID[edge-rtmpt]=${PID_edge:-}
PROXY_PID[haproxy-tls]=${PID_haproxy:-}
PROXY_PID[edge-rtmps]=${PID_edge:-}
PROXY_PID[edge-cmd]=${PID_edge_cmd:-}

# run_on PATH: the path is measured in this run (its proxy is up and -paths selects it).
run_on() { [ "${AVAILABLE[$1]:-0}" = 1 ] && want_path "$1"; }

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
cpu_pct() { # cpu_pct TICKS0 TICKS1 WALL0 WALL1: % of one core
	awk -v t="$(($2 - $1))" -v hz="$CLK_TCK" -v a="$3" -v b="$4" 'BEGIN {printf "%.1f", 100 * t / hz / (b - a)}'
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
	want_load throughput && run_on "$path" || continue
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

# --- 2. setup latency at low load: one player reconnecting, sessions held 25 ms ----------------------
# (25 ms, not the 100 ms of earlier runs: about 350 sessions in 10 s instead of 95, so that p99 is not
# simply the slowest one or two sessions.)
for path in "${SETUP_PATHS[@]}"; do
	want_load latency && run_on "$path" || continue
	log "latency: $path ($LAT_SECS)"
	bench_run latency "$path" -publishers 0 -players 1 -streams 1 -reconnect -hold 25ms -duration "$LAT_SECS" -src 127.0.11.0/24 "${URL[$path]}"
	f="$WORK/latency-$path.json"
	put connect_p50_ms "$path" "$(j '.connect_ms.p50' "$f")"
	put connect_p99_ms "$path" "$(j '.connect_ms.p99' "$f")"
	put first_packet_p50_ms "$path" "$(j '.first_packet_ms.p50' "$f")"
	put first_packet_p99_ms "$path" "$(j '.first_packet_ms.p99' "$f")"
done

# --- 3. session rate at saturation: idle publishers reconnecting without pause -----------------------
for path in "${SETUP_PATHS[@]}"; do
	want_load sessions && run_on "$path" || continue
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
	edge-cmd)
		start edge_cmd "$WORK/rtmp-edge" -config "$WORK/edge-cmd.yaml" -log-level warn
		wait_port $CMD_MEDIA edge_cmd
		PROXY_PID[edge-cmd]=$PID_edge_cmd
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
for path in "${PATHS[@]}"; do
	want_load memory && run_on "$path" || continue
	for n in $MEM_SMALL $MEM_LARGE; do
		log "memory: $path ($n idle sessions)"
		mem_run "$path" "$n"
	done
done

# live_run NAME PATH PLAYERS STREAM RAMP SETTLE MEASURE [ARGS...]: players of one nginx-rtmp stream
# through PATH, against a freshly started proxy whose RSS before the load is the idle baseline. The
# players ramp up; after SETTLE more seconds the proxy's CPU is taken over MEASURE seconds and its
# largest RSS while they all play; then the load ends. Leaves CPU % in LIVE_CPU, RSS KiB per player
# set up in LIVE_RSS (empty for "direct", which has no proxy process).
live_run() {
	local name=$1 path=$2 n=$3 stream=$4 ramp=$5 settle=$6 measure=$7
	shift 7
	restart_proxy "$path"
	local pid=${PROXY_PID[$path]:-} ramp_s secs base
	ramp_s=$(awk -v n="$n" -v r="$ramp" 'BEGIN {printf "%d", n / r + 1}')
	secs=$((ramp_s + settle + measure + 2))
	base=$(rss_kb "$pid")
	"$BENCH" load -json -progress 1s -publishers 0 -players "$n" -streams 1 -stream "$stream" -ramp "$ramp" \
		-duration "${secs}s" "$@" "${NGINX_URL[$path]}" >"$WORK/$name-$path.json" 2>"$WORK/$name-$path.err" &
	local lp=$!
	sleep $((ramp_s + settle))
	local t0 t1 w0 w1 rss max=0 until
	t0=$(cpu_ticks "$pid")
	w0=$(date +%s.%N)
	until=$(awk -v a="$w0" -v m="$measure" 'BEGIN {printf "%d", a + m}')
	while [ "$(date +%s)" -lt "$until" ] && kill -0 "$lp" 2>/dev/null; do
		rss=$(rss_kb "$pid")
		[ "$rss" -gt "$max" ] && max=$rss
		sleep 0.5
	done
	t1=$(cpu_ticks "$pid")
	w1=$(date +%s.%N)
	wait "$lp" || log "$name/$path: rtmp-bench reported errors: $(jq -c '.errors' "$WORK/$name-$path.json" 2>/dev/null)"
	LIVE_CPU="" LIVE_RSS="" LIVE_GB=""
	# What the players received during the measured window, from rtmp-bench's progress lines
	# ("<elapsed>s ... in <Mbit/s> Mbit/s ..." every second).
	LIVE_WIN_MBPS=$(awk -v a="$((ramp_s + settle))" -v b="$((ramp_s + settle + measure))" '
		$1 ~ /s$/ { t = $1 + 0; for (i = 2; i < NF; i++) if ($i == "in") { v = $(i + 1) } ; if (t > a && t <= b + 0.5) { sum += v; n++ } }
		END { if (n) printf "%.1f", sum / n; else print "nan" }' "$WORK/$name-$path.err")
	if [ -n "$pid" ]; then
		LIVE_CPU=$(cpu_pct "$t0" "$t1" "$w0" "$w1")
		if [ "$LIVE_WIN_MBPS" != nan ]; then
			LIVE_GB=$(awk -v t="$((t1 - t0))" -v hz="$CLK_TCK" -v m="$LIVE_WIN_MBPS" -v a="$w0" -v b="$w1" \
				'BEGIN { gb = m * (b - a) / 8 / 1000; if (gb > 0) printf "%.3f", t / hz / gb; else print "nan" }')
		fi
		local up
		up=$(j '.players_up' "$WORK/$name-$path.json")
		if [ "$up" != nan ] && [ "$up" -gt 0 ]; then
			LIVE_RSS=$(awk -v m="$max" -v b="$base" -v n="$up" 'BEGIN {printf "%.2f", (m - b) / n}')
		fi
	fi
}

# publish_live NAME BITRATE SECS: one publisher of stream NAME-0 into nginx-rtmp for SECS seconds
# (it ends by itself; killed after its load).
publish_live() {
	"$BENCH" load -json -progress 0 -publishers 1 -bitrate "$2" -chunk 4096 -stream "$1" \
		-duration "${3}s" "rtmp://127.0.0.1:$NGINX_PORT/live" >"$WORK/$1-publisher.json" 2>&1 &
	LIVE_PUB=$!
	PIDS+=($LIVE_PUB)
	sleep 2 # nginx has the stream and its first keyframe
}

LIVE_PATHS=("${PATHS[@]}" edge-cmd)
count_paths() { # count_paths LOAD PATH...: how many of them this run measures
	local n=0 p
	local load=$1
	shift
	for p in "$@"; do run_on "$p" && n=$((n + 1)); done
	want_load "$load" || n=0
	echo $n
}

# --- 5. live realism: players of one 2.5 Mbit/s stream published to nginx-rtmp ---------------------
# CPU over the whole load as before (ramp included: 500 players at 250/s), RSS per live session from
# the largest RSS while they play.
npaths=$(count_paths live "${LIVE_PATHS[@]}")
if [ "$NGINX_OK" = 1 ] && [ "$npaths" -gt 0 ]; then
	live_secs=${LIVE_SECS%s}
	publish_live real 2500k $(((live_secs + 8) * npaths + 10))
	for path in "${LIVE_PATHS[@]}"; do
		run_on "$path" || continue
		log "live: $path ($LIVE_PLAYERS players, $LIVE_SECS)"
		restart_proxy "$path"
		pid=${PROXY_PID[$path]:-}
		base=$(rss_kb "$pid")
		t0=$(cpu_ticks "$pid")
		w0=$(date +%s.%N)
		bench_run live "$path" -publishers 0 -players "$LIVE_PLAYERS" -streams 1 -stream real -ramp 250 -duration "$LIVE_SECS" \
			-src 127.0.14.0/24 "${NGINX_URL[$path]}" &
		lp=$!
		max=0
		while kill -0 "$lp" 2>/dev/null; do
			rss=$(rss_kb "$pid")
			[ "$rss" -gt "$max" ] && max=$rss
			sleep 0.5
		done
		wait "$lp" || true
		w1=$(date +%s.%N)
		t1=$(cpu_ticks "$pid")
		f="$WORK/live-$path.json"
		put live_players_with_media "$path" "$(j '.players_with_media' "$f")"
		put live_players_at_end "$path" "$(j '.players_media_at_end' "$f")"
		put live_in_mbps "$path" "$(j '.in_mbit_s' "$f")"
		if [ -n "$pid" ]; then
			put live_proxy_cpu_pct "$path" "$(cpu_pct "$t0" "$t1" "$w0" "$w1")"
			up=$(j '.players_up' "$f")
			if [ "$up" != nan ] && [ "$up" -gt 0 ]; then
				put live_rss_kb_per_session "$path" "$(awk -v m="$max" -v b="$base" -v n="$up" 'BEGIN {printf "%.2f", (m - b) / n}')"
			fi
		fi
		sleep 1
	done
	kill "$LIVE_PUB" 2>/dev/null || true
fi

# --- 6. many live players: one 256 kbit/s stream, 10,000 players (or as many as the fd limit allows) --
# and a smaller count the machine carries in full. RTMPT is left out (ten thousand polling tunnels
# measure the poll rate, not the relay). The players are made cheap so that the client process does
# not take the proxy's CPU: 8 KiB read buffers, and a 50 ms pause once a player has parsed all it read
# (one read then takes the few messages that arrived; the proxy still writes each message as it comes).
MANY_PATHS=(direct haproxy edge-rtmp)
npaths=$(count_paths many "${MANY_PATHS[@]}")
if [ "$NGINX_OK" = 1 ] && [ "$npaths" -gt 0 ]; then
	many_secs=0
	for n in $MANY_SMALL $MANY_PLAYERS; do
		many_secs=$((many_secs + (n / MANY_RAMP + 1 + MANY_SETTLE + MANY_MEASURE + 2 + 6) * npaths))
	done
	publish_live many 256k $((many_secs + 10))
	for n in $MANY_SMALL $MANY_PLAYERS; do
		for path in "${MANY_PATHS[@]}"; do
			run_on "$path" || continue
			log "many: $path ($n players of a 256 kbit/s stream)"
			live_run "many$n" "$path" "$n" many "$MANY_RAMP" "$MANY_SETTLE" "$MANY_MEASURE" -read-buffer 8192 -read-pause 50ms -retry-pause 1s -src 127.0.15.0/24
			f="$WORK/many$n-$path.json"
			put "many_players_with_media_$n" "$path" "$(j '.players_with_media' "$f")"
			put "many_players_at_end_$n" "$path" "$(j '.players_media_at_end' "$f")"
			put "many_in_mbps_$n" "$path" "$LIVE_WIN_MBPS"
			[ -n "$LIVE_CPU" ] && put "many_proxy_cpu_pct_$n" "$path" "$LIVE_CPU"
			[ -n "$LIVE_GB" ] && put "many_cpu_s_per_gb_$n" "$path" "$LIVE_GB"
			[ -n "$LIVE_RSS" ] && put "many_rss_kb_per_session_$n" "$path" "$LIVE_RSS"
			sleep 2 # the sessions close
		done
	done
	kill "$LIVE_PUB" 2>/dev/null || true
	if [ "$MANY_PLAYERS" -lt "$MANY_WANTED" ]; then
		NOTES+=("many live players: $MANY_PLAYERS players instead of $MANY_WANTED: the fd limit is $FD_LIMIT (hard limit; no CAP_SYS_RESOURCE), HAProxy holds 2 descriptors per player plus splice pipes, so its maxconn is $PROXY_MAXCONN")
	fi
	NOTES+=("many live players: one 256 kbit/s stream (25 fps video + 128 kbit/s AAC-shaped audio, ~68 messages/s) from nginx-rtmp (one worker), $MANY_SMALL and $MANY_PLAYERS players at $MANY_RAMP/s; CPU over ${MANY_MEASURE}s from ${MANY_SETTLE}s after the ramp; delivered = what the players received in that window (wanted: players × 0.256 Mbit/s); RSS per session = largest proxy RSS then, minus the fresh process's RSS before, per player set up; \"at the end\" = a media message in the run's last 2 s; a player whose set-up failed retries after 1 s; players, nginx and the proxy share the machine's $(nproc) cores, so the larger count is a saturation load: compare CPU-seconds per GB delivered and RSS per session, not CPU %")
fi

# --- 7. replication: publishers at 2.5 Mbit/s, plain and replicated by the edge ------------------------
# The same publishers through HAProxy, through the route: command edge (plain) and through a third edge
# whose media backend replicates every publish to the two other servers. The media servers count the
# publishing sessions (their stats line every second): publishers + replicas.
publishing_on_servers() {
	local i n=0 v
	for i in 1 2 3; do
		v=$(grep -o 'publishing [0-9]*' "$WORK/media0$i.log" | tail -1 | awk '{print $2}')
		n=$((n + ${v:-0}))
	done
	echo $n
}
repl_run() { # repl_run PATH: one replication load; sets REPL_CPU (empty if not measured)
	local path=$1 pid=${PROXY_PID[$1]:-} secs=$((REPL_SETTLE + REPL_MEASURE + 3))
	bench_run_bg() { "$BENCH" load -json -progress 0 -publishers "$REPL_PUBS" -bitrate 2500k -duration "${secs}s" \
		-src 127.0.16.0/24 -stream repl "${URL[$path]}" >"$WORK/repl-$path.json" 2>"$WORK/repl-$path.err"; }
	bench_run_bg &
	local lp=$! t0 t1 w0 w1
	sleep "$REPL_SETTLE"
	t0=$(cpu_ticks "$pid")
	w0=$(date +%s.%N)
	sleep "$REPL_MEASURE"
	t1=$(cpu_ticks "$pid")
	w1=$(date +%s.%N)
	local sessions
	sessions=$(publishing_on_servers)
	wait "$lp" || log "repl/$path: rtmp-bench reported errors: $(jq -c '.errors' "$WORK/repl-$path.json" 2>/dev/null)"
	REPL_CPU=$(cpu_pct "$t0" "$t1" "$w0" "$w1")
	put repl_publishers "$path" "$(j '.publishers_up' "$WORK/repl-$path.json")"
	put repl_publisher_mbps "$path" "$(j '.out_mbit_s' "$WORK/repl-$path.json")"
	put repl_server_sessions "$path" "$sessions"
	put repl_cpu_pct "$path" "$REPL_CPU"
	put repl_cpu_pct_per_publisher "$path" "$(awk -v c="$REPL_CPU" -v n="$REPL_PUBS" 'BEGIN {printf "%.2f", c / n}')"
	REPL_SESSIONS=$sessions
	sleep 2 # the sessions close
}
if want_load replicate; then
	PLAIN_CPU=""
	for path in haproxy edge-cmd; do
		[ "${AVAILABLE[$path]:-0}" = 1 ] || continue
		log "replicate: $path, plain ($REPL_PUBS publishers at 2.5 Mbit/s)"
		repl_run "$path"
		[ "$path" = edge-cmd ] && PLAIN_CPU=$REPL_CPU
	done
	if [ "$REPL_OK" = 1 ]; then
		start edge_repl "$WORK/rtmp-edge" -config "$WORK/edge-repl.yaml" -log-level warn
		if wait_port $REPL_MEDIA edge_repl; then
			PROXY_PID[edge-repl]=$PID_edge_repl
			sleep 1.5 # health checks
			log "replicate: edge-repl, replicated to the other servers ($REPL_PUBS publishers at 2.5 Mbit/s)"
			repl_run edge-repl
			replicas=$((REPL_SESSIONS - REPL_PUBS))
			if [ -n "$PLAIN_CPU" ] && [ "$replicas" -gt 0 ]; then
				put repl_cpu_pct_per_replica edge-repl "$(awk -v r="$REPL_CPU" -v p="$PLAIN_CPU" -v n="$replicas" 'BEGIN {printf "%.2f", (r - p) / n}')"
			else
				put repl_cpu_pct_per_replica edge-repl nan
				NOTES+=("replication: no replica was publishing on the media servers ($REPL_SESSIONS publishing sessions for $REPL_PUBS publishers), or the plain edge was not measured: CPU per replica n/a")
			fi
			NOTES+=("replication: $REPL_PUBS publishers, $((REPL_PUBS * 2)) replicas expected (to: all over three servers), $((REPL_SESSIONS - REPL_PUBS)) publishing on the servers at the end of the measurement; CPU per replica = (replicated − plain edge CPU) / replicas")
			kill "$PID_edge_repl" 2>/dev/null || true
		else
			put repl_cpu_pct edge-repl nan
			NOTES+=("replication: the replicating edge did not start; see raw/edge-repl.log.tail")
		fi
	else
		put repl_cpu_pct edge-repl nan
	fi
fi

# How the route: command edge relayed its sessions since its last start (the live and replication
# loads): after the edge answered until publish/play and replayed, the kernel should splice the rest.
if [ "$CMD_OK" = 1 ] && command -v curl >/dev/null; then
	relayed=$(curl -s -m 5 "http://127.0.0.1:$CMD_ADMIN/metrics" | awk '/^rtmp_edge_command_relayed_total/ {
		match($0, /mode="[a-z]+"/); m = substr($0, RSTART + 6, RLENGTH - 7); n[m] += $NF }
		END { for (m in n) printf "%s %d, ", m, n[m] }' | sed 's/, $//')
	NOTES+=("route: command edge, sessions routed on publish/play that started relaying since its last restart, by relay mode: ${relayed:-none counted}")
fi

# --- report ----------------------------------------------------------------------------------------
MODE=full
[ "$SHORT" = 1 ] && MODE=short
[ "$ONLY" != all ] && MODE="$MODE, loads $ONLY only"
[ "$ONLY_PATHS" != all ] && MODE="$MODE, paths $ONLY_PATHS only"
{
	echo "date	$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "mode	$MODE"
	echo "cpu	$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
	echo "kernel	$(uname -r)"
	echo "haproxy	$(haproxy -v 2>/dev/null | head -1 || echo none)"
	echo "nginx	$(nginx -v 2>&1 | head -1 || echo none)"
	# BENCH_COMMIT names the commit when the tree is a copy without .git (git archive).
	echo "edge	$([ "$EDGE_OK" = 1 ] && { [ -n "${BENCH_COMMIT:-}" ] && echo "$BENCH_COMMIT" || (cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null) || echo unknown; } || echo n/a)"
	echo "fd limit	$FD_LIMIT (proxies' maxconn $PROXY_MAXCONN; large memory run $MEM_LARGE sessions, $MEM_LARGE_WANTED wanted)"
	echo "sizes	throughput $TP_PUBS publishers $TP_SECS; latency 1 player $LAT_SECS; sessions $SR_CLIENTS clients $SR_SECS; memory $MEM_SMALL/$MEM_LARGE; live $LIVE_PLAYERS players $LIVE_SECS; many $MANY_SMALL and $MANY_PLAYERS players ($MANY_WANTED wanted); replication $REPL_PUBS publishers"
	echo "load	$(cut -d' ' -f1-3 /proc/loadavg) (load average at the end: the machine is shared; numbers vary run to run)"
	for n in "${NOTES[@]}"; do printf 'note	%s
' "$n"; done
} >"$WORK/env.tsv"
cp "$TSV" "$OUT/results.tsv"
mkdir -p "$OUT/raw"
cp "$WORK"/haproxy.cfg "$WORK"/edge.yaml "$WORK"/edge-cmd.yaml "$WORK"/edge-repl.yaml "$OUT/raw/"
for f in "$WORK"/*.json; do # the summaries, without the per-client lists (megabytes at 10k clients)
	jq 'del(.clients)' "$f" >"$OUT/raw/$(basename "$f")" 2>/dev/null || cp "$f" "$OUT/raw/"
done
for name in haproxy edge edge_cmd edge_repl nginx/error; do # what the peers said, for the reader of surprising numbers
	if [ -f "$WORK/$name.log" ]; then tail -n 200 "$WORK/$name.log" >"$OUT/raw/${name//\//-}.log.tail"; fi
done
(cd "$ROOT" && go run ./bench/report -in "$OUT/results.tsv" -env "$WORK/env.tsv" -out "$OUT")
log "results in $OUT/results.md and $OUT/chart.png"
