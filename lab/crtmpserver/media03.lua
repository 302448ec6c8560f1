-- crtmpserver configuration of media03 in the docker-compose lab
-- (docker-compose.yml, lab/README.md): the upload server. The edge sends every
-- publish to media03 (upload: true in lab/edge.yaml); crtmpserver's
-- proxypublish application pushes each stream published to it on to media01
-- and media02, the way the reference cluster "synchronises" uploads
-- (BaseClientApplication::PushLocalStream in crtmpserver's source).
--
-- proxypublish forwards only the streams registered in its own application,
-- so it is the one called "live" here, and appselector (the default
-- application, peers.md §1.3) hands each connection to the application its
-- connect command names. flvplayback keeps "vod". CI parses this file with
-- `luac5.1 -p` (go test ./lab/); only the containers run it.
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
			description="Takes the uploads and pushes them to media01 and media02",
			protocol="dynamiclinklibrary",
			aliases=
			{
				"live",
			},
			validateHandshake=false,
			-- A push that fails (media01 restarting) must not end the upload:
			-- media03 still serves it, and keepAlive retries the push.
			abortOnConnectError=false,
			targetServers=
			{
				{
					-- Same application and stream name on the target (the
					-- stream name defaults to the local one).
					targetUri="rtmp://198.18.2.11:1935/live",
					targetStreamType="live",
					keepAlive=true
				},
				{
					targetUri="rtmp://198.18.2.12:1935/live",
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
