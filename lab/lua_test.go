package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var luaConfigs = []string{"crtmpserver/media.lua", "crtmpserver/media03.lua"}

// The directory the configurations load applications from; lab/media.Dockerfile
// links it to the package's application directory.
const crtmpAppsDir = "/usr/local/lib/crtmpserver-lab/applications"

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
	for _, ts in ipairs(app.targetServers or {}) do
		-- crtmpserver pushes nothing for an entry without localStreamName.
		print("target " .. app.name .. " " .. ts.targetUri .. " " .. tostring(ts.localStreamName))
	end
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
	topo := loadTopology(t)
	common := []string{
		"daemon false", // the container's main process stays in the foreground
		"root " + crtmpAppsDir,
	}
	cases := []struct {
		file string
		want []string
	}{
		{"crtmpserver/media.lua", []string{
			"app flvplayback default=true validateHandshake=false",
			"alias flvplayback live",
			"acceptor flvplayback 0.0.0.0:1935 inboundRtmp",
		}},
		{"crtmpserver/media03.lua", []string{
			// appselector hands each connection to the application its connect names ...
			"app appselector default=true validateHandshake=false",
			"acceptor appselector 0.0.0.0:1935 inboundRtmp",
			// ... and "live" is proxypublish, which forwards only its own streams,
			// and of those only the ones an entry names (localStreamName): the
			// lab's live/demo, to media01 and media02.
			"app proxypublish default=false validateHandshake=false",
			"alias proxypublish live",
			"abortOnConnectError proxypublish boolean", // proxypublish refuses to start otherwise
			fmt.Sprintf("target proxypublish rtmp://%s:1935/live demo", topo.media["media01"]),
			fmt.Sprintf("target proxypublish rtmp://%s:1935/live demo", topo.media["media02"]),
			"app flvplayback default=false validateHandshake=false",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			facts := luaFacts(t, tc.file)
			for _, w := range append(common, tc.want...) {
				if !slices.Contains(facts, w) {
					t.Errorf("%s: missing %q; it says:\n%s", tc.file, w, strings.Join(facts, "\n"))
				}
			}
			// Every push names its stream (an entry without one pushes nothing).
			for _, f := range facts {
				if strings.HasPrefix(f, "target ") && strings.HasSuffix(f, " nil") {
					t.Errorf("%s: %q has no localStreamName: crtmpserver would push nothing", tc.file, f)
				}
			}
			// Exactly one acceptor on 1935, and only one default application.
			if n := countPrefix(facts, "acceptor "); n != 1 {
				t.Errorf("%s: %d acceptors, want 1 (RTMP on 1935)", tc.file, n)
			}
			defaults := 0
			for _, f := range facts {
				if strings.HasPrefix(f, "app ") && strings.Contains(f, " default=true ") {
					defaults++
				}
			}
			if defaults != 1 {
				t.Errorf("%s: %d default applications, want 1", tc.file, defaults)
			}
		})
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
