# The ffmpeg client of the docker-compose lab (profile "client"; README, "The docker-compose lab").
# Build context: lab/ . Debian's ffmpeg, the one the integration tests use.
FROM debian:12-slim
RUN apt-get update \
	&& apt-get install -y --no-install-recommends ffmpeg \
	&& rm -rf /var/lib/apt/lists/* \
	&& useradd --system --uid 10002 --user-group --no-create-home \
		--home-dir /tmp --shell /usr/sbin/nologin client
COPY client.sh /usr/local/bin/client.sh
USER client
ENTRYPOINT ["/usr/local/bin/client.sh"]
