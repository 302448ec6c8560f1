-- crtmpserver configuration of media03 in the docker-compose lab
-- (docker-compose.yml, README "The docker-compose lab"): the upload server.
-- The edge sends every publish to media03 (upload: true in lab/edge.yaml).
--
-- What crtmpserver's proxypublish application can and cannot do (read in its
-- source and run against it): it pushes a stream published here on to another
-- server only when a targetServers entry names that stream with
-- localStreamName; an entry without one logs "Invalid local stream name" and
-- pushes nothing. And it pushes again to a target that restarted only if the
-- publisher reconnects (keepAlive retries a dropped push once). So media03
-- pushes the lab's own stream, live/demo, to media01 and media02, one entry
-- per (stream, server); every other upload lives on media03 alone, and the
-- edge (route: command) sends its players there.
--
-- proxypublish forwards only the streams registered in its own application,
-- so it is the one called "live" here, and appselector (the default
-- application) hands each connection to the application its connect command
-- names. flvplayback keeps "vod". CI parses this file with `luac5.1 -p` and
-- runs it with lua5.1 (go test ./lab/); only the containers run crtmpserver.
configuration=
{
	-- Stay in the foreground: the container's main process.
	daemon=false,
	pathSeparator="/",

	logAppenders=
	{
		{
			name="console appender",
			type="console",
			-- 3 = INFO: keeps "Inbound connection accepted: (Far: <peer ip>:<port>; ...)"
			-- and proxypublish's "Initiate forward stream ..." lines.
			level=3
		},
	},

	applications=
	{
		-- lab/media.Dockerfile links this to wherever the package put the
		-- application libraries (<dir>/<name>/lib<name>.so).
		rootDirectory="/usr/local/lib/crtmpserver-lab/applications",
		{
			name="appselector",
			description="Reads connect and hands the connection to the application it names",
			protocol="dynamiclinklibrary",
			default=true,
			validateHandshake=false,
			acceptors=
			{
				{
					ip="0.0.0.0",
					port=1935,
					protocol="inboundRtmp"
				},
			},
		},
		{
			name="proxypublish",
			description="Takes the uploads; pushes live/demo on to media01 and media02",
			protocol="dynamiclinklibrary",
			aliases=
			{
				"live",
			},
			validateHandshake=false,
			-- A push that fails (media01 restarting) must not end the upload:
			-- media03 still serves it. keepAlive retries a dropped push once;
			-- a target that comes back later gets the stream again only
			-- when the publisher reconnects.
			abortOnConnectError=false,
			targetServers=
			{
				-- One entry per (stream, server): localStreamName is required for
				-- a push to happen at all. The target gets the same application
				-- and stream name (targetStreamName defaults to the local one).
				{
					targetUri="rtmp://198.18.2.11:1935/live",
					localStreamName="demo",
					targetStreamType="live",
					keepAlive=true
				},
				{
					targetUri="rtmp://198.18.2.12:1935/live",
					localStreamName="demo",
					targetStreamType="live",
					keepAlive=true
				},
			},
			externalStreams=
			{
			},
		},
		{
			description="FLV playback (recorded files; live uploads go to proxypublish)",
			name="flvplayback",
			protocol="dynamiclinklibrary",
			aliases=
			{
				"vod",
			},
			externalStreams=
			{
			},
			validateHandshake=false,
			keyframeSeek=false,
			seekGranularity=1.5,
			clientSideBuffer=12,
			mediaFolder="/var/lib/crtmpserver-lab/media",
		},
	}
}
