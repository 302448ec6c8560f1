# The crtmpserver media servers of the docker-compose lab (docker-compose.yml; README, "The docker-compose lab").
# Build context: lab/ . Debian 12 has no crtmpserver package; Ubuntu 22.04 has 1.0~dfsg
# (package crtmpserver, universe).
FROM ubuntu:22.04
RUN apt-get update \
	&& DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		crtmpserver crtmpserver-apps iproute2 \
	&& rm -rf /var/lib/apt/lists/*
# The configuration names one fixed application directory; link it to wherever the
# package put <dir>/<name>/lib<name>.so, and fail the build if an application it loads
# is missing rather than at the first start. The mediaFolder belongs to nobody, who
# runs crtmpserver (a named volume mounted there starts as a copy of it).
RUN set -e; \
	lib=$(find /usr/lib -name libflvplayback.so -path '*/flvplayback/*' | head -n 1); \
	test -n "$lib" || { echo "crtmpserver's flvplayback application not found" >&2; exit 1; }; \
	apps=$(dirname "$(dirname "$lib")"); \
	for app in flvplayback; do \
		test -f "$apps/$app/lib$app.so" || { echo "crtmpserver application $app missing in $apps" >&2; exit 1; }; \
	done; \
	mkdir -p /usr/local/lib/crtmpserver-lab /var/lib/crtmpserver-lab/media; \
	chown 65534:65534 /var/lib/crtmpserver-lab/media; \
	ln -s "$apps" /usr/local/lib/crtmpserver-lab/applications; \
	test -x /usr/sbin/crtmpserver
COPY crtmpserver/ /etc/crtmpserver/lab/
COPY media-route.sh /usr/local/sbin/media-route.sh
EXPOSE 1935
# media-route.sh (root, CAP_NET_ADMIN) points the default route at the edge; then
# crtmpserver runs as nobody with no capabilities at all (it only listens on 1935).
ENTRYPOINT ["/usr/local/sbin/media-route.sh", \
	"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--no-new-privs", "--", \
	"/usr/sbin/crtmpserver"]
# The configuration, the same for media01..03.
CMD ["/etc/crtmpserver/lab/media.lua"]
