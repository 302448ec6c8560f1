# The edge of the docker-compose lab (docker-compose.yml; README, "The docker-compose lab").
# Build context: the repository root (`docker compose build edge`, or
#   docker build -f lab/edge.Dockerfile .).

# --- build: a static binary (no cgo), so the runtime image needs no Go and no libc match.
FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first: this layer is reused while only our code changes.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/rtmp-edge ./cmd/rtmp-edge

# --- runtime: Debian 12, the same nft and ip versions the netns lab in integration/ runs
# transparent-setup.sh with; only nftables and iproute2 added (the edge itself also reads
# `ip rule` at start to check the transparent set-up).
FROM debian:12-slim
RUN apt-get update \
	&& apt-get install -y --no-install-recommends nftables iproute2 \
	&& rm -rf /var/lib/apt/lists/* \
	&& useradd --system --uid 10001 --user-group --no-create-home \
		--home-dir /nonexistent --shell /usr/sbin/nologin rtmp-edge
COPY --from=build /out/rtmp-edge /usr/local/bin/rtmp-edge
# The very file integration/'s network-namespace lab runs: one set-up, tested for real there.
COPY lab/transparent-setup.sh /usr/local/sbin/transparent-setup.sh
COPY lab/edge-entrypoint.sh /usr/local/sbin/edge-entrypoint.sh
COPY lab/edge.yaml /etc/rtmp-edge/edge.yaml
# Fail the build, not the first start, if the configuration does not validate. The
# file alone: the build is not where it runs (the entrypoint makes the transparent
# set-up at start, and the edge checks the host again then).
RUN /usr/local/bin/rtmp-edge -check -check-host=false -config /etc/rtmp-edge/edge.yaml
EXPOSE 1935 80 9935
# The entrypoint starts as root to run transparent-setup.sh, then drops to the
# rtmp-edge user with CAP_NET_ADMIN and CAP_NET_BIND_SERVICE only (see the script).
ENTRYPOINT ["/usr/local/sbin/edge-entrypoint.sh"]
CMD ["-config", "/etc/rtmp-edge/edge.yaml", "-log-format", "json"]
