-- crtmpserver configuration of media01 and media02 in the docker-compose lab
-- (docker-compose.yml, README "The docker-compose lab"). They serve plays:
-- live/demo, which media03 pushes to them (media03.lua), in the application
-- "live", and the files of the volume the three share (mediaFolder).
--
-- Structure: the packaged crtmpserver.lua / configs/flvplayback.lua of
-- crtmpserver 1.0 (Ubuntu 22.04's package). CI parses this
-- file with `luac5.1 -p` (go test ./lab/); only the containers run it.
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
			description="FLV playback: live streams published or pushed here, played by clients",
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
