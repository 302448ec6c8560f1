package lab

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The one configuration the three media servers run.
var luaConfigs = []string{"crtmpserver/media.lua"}

// The directory the configurations load applications from; lab/media.Dockerfile
// links it to the package's application directory.
const crtmpAppsDir = "/usr/local/lib/crtmpserver-lab/applications"

// flvplayback's mediaFolder; docker-compose.yml mounts one volume there on all
// three servers.
const mediaFolder = "/var/lib/crtmpserver-lab/media"

func TestLuaConfigsParse(t *testing.T) {
	luac := needTool(t, "luac5.1", "apt-get install -y lua5.1")
	for _, file := range luaConfigs {
		t.Run(file, func(t *testing.T) {
			mustRun(t, ".", nil, luac, "-p", file)
		})
	}
}

// The check above can fail.
func TestLuacRejectsBrokenLua(t *testing.T) {
	luac := needTool(t, "luac5.1", "apt-get install -y lua5.1")
	cases := map[string]string{
		"missing comma":  "configuration={ daemon=false pathSeparator=\"/\" }\n",
		"unclosed table": "configuration={ applications={ {name=\"flvplayback\"} }\n",
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			if r := run(t, ".", nil, luac, "-p", writeFile(t, "broken.lua", src)); r.err == nil {
				t.Fatalf("luac5.1 -p accepted %q", src)
			}
		})
	}
}

// dumpLua prints, one fact per line, what the tests need of a crtmpserver
// configuration: running it (not just parsing it) also proves it builds the
// `configuration` table crtmpserver reads.
const dumpLua = `
dofile(arg[1])
local c = assert(configuration, "no configuration table")
print("daemon " .. tostring(c.daemon))
print("root " .. tostring(c.applications.rootDirectory))
for _, app in ipairs(c.applications) do
	print("app " .. app.name .. " default=" .. tostring(app.default == true) ..
		" validateHandshake=" .. tostring(app.validateHandshake))
	for _, a in ipairs(app.aliases or {}) do print("alias " .. app.name .. " " .. a) end
	for _, acc in ipairs(app.acceptors or {}) do
		print("acceptor " .. app.name .. " " .. acc.ip .. ":" .. acc.port .. " " .. acc.protocol)
	end
	if app.abortOnConnectError ~= nil then
		print("abortOnConnectError " .. app.name .. " " .. type(app.abortOnConnectError))
	end
	if app.mediaFolder ~= nil then print("mediaFolder " .. app.name .. " " .. app.mediaFolder) end
	for _, ts in ipairs(app.targetServers or {}) do print("target " .. app.name .. " " .. ts.targetUri) end
	for _, es in ipairs(app.externalStreams or {}) do print("pull " .. app.name .. " " .. tostring(es.uri)) end
end
`

// luaFacts runs dumpLua on a configuration file.
func luaFacts(t *testing.T, file string) []string {
	t.Helper()
	lua := needTool(t, "lua5.1", "apt-get install -y lua5.1")
	out := mustRun(t, ".", nil, lua, writeFile(t, "dump.lua", dumpLua), file)
	return strings.Split(strings.TrimSpace(out), "\n")
}

func TestLuaConfigContents(t *testing.T) {
	facts := luaFacts(t, "crtmpserver/media.lua")
	for _, w := range []string{
		"daemon false", // the container's main process stays in the foreground
		"root " + crtmpAppsDir,
		// flvplayback alone, so it takes every connection; "live" for the
		// streams published to the server (by a client through the edge, or
		// by the edge's replica session), "vod" for the shared files.
		"app flvplayback default=true validateHandshake=false",
		"alias flvplayback live",
		"alias flvplayback vod",
		"acceptor flvplayback 0.0.0.0:1935 inboundRtmp",
		"mediaFolder flvplayback " + mediaFolder,
	} {
		if !slices.Contains(facts, w) {
			t.Errorf("media.lua: missing %q; it says:\n%s", w, strings.Join(facts, "\n"))
		}
	}
	if n := countPrefix(facts, "app "); n != 1 {
		t.Errorf("media.lua: %d applications, want flvplayback alone:\n%s", n, strings.Join(facts, "\n"))
	}
	if n := countPrefix(facts, "acceptor "); n != 1 {
		t.Errorf("media.lua: %d acceptors, want 1 (RTMP on 1935)", n)
	}
	// The servers neither push nor pull: the edge publishes each upload to
	// every server itself. A push configured here as well would publish the
	// same stream to media01/02 a second time.
	for _, f := range facts {
		if strings.HasPrefix(f, "target ") || strings.HasPrefix(f, "pull ") {
			t.Errorf("media.lua: %q: the lab's servers neither push nor pull (the edge replicates)", f)
		}
	}
}

// The media image must carry every application the configurations load:
// lab/media.Dockerfile fails its build when one is missing, for the ones it lists.
func TestMediaImageHasTheApplications(t *testing.T) {
	df, err := os.ReadFile("media.Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(df)
	if !strings.Contains(text, crtmpAppsDir) {
		t.Errorf("media.Dockerfile does not create %s, the configurations' rootDirectory", crtmpAppsDir)
	}
	for _, file := range luaConfigs {
		for _, f := range luaFacts(t, file) {
			if name, ok := strings.CutPrefix(f, "app "); ok {
				name, _, _ = strings.Cut(name, " ")
				if !strings.Contains(text, " "+name+" ") && !strings.Contains(text, " "+name+";") {
					t.Errorf("%s loads application %s, which media.Dockerfile does not check for", filepath.Base(file), name)
				}
			}
		}
	}
}

func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}
