#!/bin/sh
# edge-entrypoint.sh — start of the edge container of the docker-compose lab.
#
# 1. As root (with CAP_NET_ADMIN), prepare the container's network namespace
#    for transparent mode: transparent-setup.sh, the same file the
#    network-namespace lab in integration/ runs.
# 2. Become the unprivileged user rtmp-edge and run the edge with exactly two
#    capabilities, passed on as ambient capabilities:
#      CAP_NET_ADMIN         IP_TRANSPARENT: binding the client's address when
#                            dialing a media server (source: clientip)
#      CAP_NET_BIND_SERVICE  listening on port 80 (below 1024; 1935 needs nothing)
#    --no-new-privs: nothing the edge could exec ever gains more.
#
# Why not `setcap cap_net_admin+ep` on the binary and `USER rtmp-edge`? The
# set-up in step 1 needs root-level nft/ip changes before the edge starts,
# which a non-root container user cannot make; and file capabilities depend on
# the storage driver keeping extended attributes. setpriv (util-linux, already
# in debian:12-slim) does both steps in one process and no extra package.
#
# The paths and the user are those of lab/edge.Dockerfile; the environment
# can change them, so the tests (lab/sim_linux_test.go) run this very script outside docker:
#   RTMP_EDGE_SETUP [/usr/local/sbin/transparent-setup.sh]
#   RTMP_EDGE_BIN [/usr/local/bin/rtmp-edge]
#   RTMP_EDGE_USER [rtmp-edge], RTMP_EDGE_GROUP [the user's name]
set -eu

setup=${RTMP_EDGE_SETUP:-/usr/local/sbin/transparent-setup.sh}
bin=${RTMP_EDGE_BIN:-/usr/local/bin/rtmp-edge}
user=${RTMP_EDGE_USER:-rtmp-edge}
group=${RTMP_EDGE_GROUP:-$user}

"$setup"

exec setpriv \
	--reuid="$user" --regid="$group" --clear-groups \
	--inh-caps=-all,+net_admin,+net_bind_service \
	--ambient-caps=-all,+net_admin,+net_bind_service \
	--no-new-privs \
	-- "$bin" "$@"
