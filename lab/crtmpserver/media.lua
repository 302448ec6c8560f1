-- crtmpserver configuration of media01, media02 and media03 in the
-- docker-compose lab (docker-compose.yml, README "The docker-compose lab").
-- The three are alike: each serves, in the application "live", every stream
-- published to it, and, in "vod", the files of the volume the three share
-- (mediaFolder). media03 is the upload server only because lab/edge.yaml
-- says so (upload: true): the edge sends every client's publish there, and
-- the edge itself publishes the same stream to media01 and media02 (its
-- backend's replicate: key), so all three have every live upload.
--
-- No server pushes anything: crtmpserver's own pushing application
-- (proxypublish) forwards only streams its configuration names in advance,
-- one entry per stream and target, and never pushes again to a target that
-- restarted. The README's lab section says more.
--
-- Structure: the packaged crtmpserver.lua / configs/flvplayback.lua of
-- crtmpserver 1.0 (Ubuntu 22.04's package). CI parses this file with
-- `luac5.1 -p` and runs it with lua5.1 (go test ./lab/); the containers run
-- crtmpserver with it.
configuration=
{
	-- Stay in the foreground: the container's main process.
	daemon=false,
	pathSeparator="/",

	logAppenders=
	{
		{
			-- Plain console, so `docker compose logs` shows the lines without colour codes.
			name="console appender",
			type="console",
			-- 3 = INFO: keeps "Inbound connection accepted: (Far: <peer ip>:<port>; ...)",
			-- the line that shows each connection's TCP peer: with the edge in
			-- transparent mode, the client's own address.
			level=3
		},
	},

	applications=
	{
		-- lab/media.Dockerfile links this to wherever the package put the
		-- application libraries (<dir>/<name>/lib<name>.so).
		rootDirectory="/usr/local/lib/crtmpserver-lab/applications",
		{
			description="FLV playback: live streams published here, and recorded files, played by clients",
			name="flvplayback",
			protocol="dynamiclinklibrary",
			-- The only application, so it takes every connection on its acceptor.
			default=true,
			aliases=
			{
				"live",
				"vod",
			},
			acceptors=
			{
				{
					ip="0.0.0.0",
					port=1935,
					protocol="inboundRtmp"
				},
			},
			externalStreams=
			{
			},
			-- The edge does the simple handshake with media servers: it cannot sign a
			-- digest handshake on the client's behalf.
			validateHandshake=false,
			keyframeSeek=false,
			seekGranularity=1.5,
			clientSideBuffer=12,
			-- docker-compose.yml mounts one volume here on all three servers.
			mediaFolder="/var/lib/crtmpserver-lab/media",
		},
	}
}
