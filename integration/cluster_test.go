package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// serverNames are the media servers of the seed set-up, in config order.
var serverNames = []string{"media01", "media02", "media03"}

// clusterOptions selects the edge listeners and timings of one test's cluster.
type clusterOptions struct {
	rtmpt            bool     // add listener "rtmpt" with protocols [rtmpt]
	mixed            bool     // add listener "mixed" with protocols [rtmpt, rtmp]
	handshakeTimeout string   // listener handshake_timeout; default 5s
	servers          int      // media servers to start (1..3); default 3
	adminToken       string   // admin token; default none (loopback admin address)
	edgeArgs         []string // extra rtmp-edge flags, e.g. -grace
	route            string   // backend route; default none (the edge's default, command)
}

// cluster is the seed set-up on loopback: nginx media servers and rtmp-edge in front.
type cluster struct {
	media map[string]*harness.Nginx
	edge  *harness.Edge
	rtmp  string // edge listener addresses
	rtmpt string
	mixed string
	admin string // edge admin address

	opts    clusterOptions
	names   []string       // servers of backend "media", in config order
	pushTo  []string       // the servers media03 pushes every stream to (nginx push)
	weights map[string]int // their weights in the config file
}

// startCluster starts the media servers (media03, the upload server, pushes to
// media01 and media02), then the edge with the seed's routing (weights 10/10/8,
// maxconn 200, stick on source IP, rtmp health checks every 300 ms), and waits
// until the edge's checks see every server up.
//
// The checks allow 3 s and three failures: on a test machine shared by many
// parallel tests a loopback dial has taken over 1 s, and a live server marked
// down for a moment skews the exact counts the balance tests expect. A killed
// server still refuses at once and is down within about a second.
func startCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	if o.servers == 0 {
		o.servers = 3
	}
	if o.handshakeTimeout == "" {
		o.handshakeTimeout = "5s"
	}
	c := &cluster{
		media: map[string]*harness.Nginx{}, rtmp: harness.FreeAddr(t), admin: harness.FreeAddr(t), opts: o,
		weights: map[string]int{"media01": 10, "media02": 10, "media03": 8},
	}
	c.names = slices.Clone(serverNames[:o.servers])
	if o.servers == 1 {
		c.names = []string{"media03"}
	}
	var push []string
	for _, name := range c.names {
		if name != "media03" {
			c.media[name] = harness.StartNginx(t, harness.NginxOptions{Name: name, RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
			push = append(push, "rtmp://"+c.media[name].Opts.RTMPAddr+"/live")
			c.pushTo = append(c.pushTo, name)
		}
	}
	c.media["media03"] = harness.StartNginx(t, harness.NginxOptions{Name: "media03", RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t), Push: push})
	if o.rtmpt {
		c.rtmpt = harness.FreeAddr(t)
	}
	if o.mixed {
		c.mixed = harness.FreeAddr(t)
	}
	c.edge = harness.StartEdge(t, c.config(), o.edgeArgs...)
	c.edge.WaitServersUp(t, "media", c.names, 15*time.Second)
	return c
}

// config renders the edge's config file from the cluster's current servers and
// weights, so that a test can change them and reload.
func (c *cluster) config() string {
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "admin:\n  address: %q\n", c.admin)
	if c.opts.adminToken != "" {
		fmt.Fprintf(&cfg, "  token: %q\n", c.opts.adminToken)
	}
	cfg.WriteString("listeners:\n")
	listener := func(name, addr, protos string) {
		fmt.Fprintf(&cfg, "  - name: %s\n    address: %q\n    protocols: %s\n    maxconn: 600\n    backend: media\n    handshake_timeout: %s\n",
			name, addr, protos, c.opts.handshakeTimeout)
	}
	listener("rtmp", c.rtmp, "[rtmp]")
	if c.rtmpt != "" {
		listener("rtmpt", c.rtmpt, "[rtmpt]")
	}
	if c.mixed != "" {
		listener("mixed", c.mixed, "[rtmpt, rtmp]")
	}
	cfg.WriteString("backends:\n  - name: media\n")
	if c.opts.route != "" {
		fmt.Fprintf(&cfg, "    route: %s\n", c.opts.route)
	}
	cfg.WriteString(`    balance: roundrobin
    stick: { size: 200000, expire: 20m }
    check: { type: rtmp, interval: 300ms, rise: 2, fall: 3, timeout: 3s, app: live }
    retries: 3
    queue_timeout: 5s
    connect_timeout: 2s
    handshake_timeout: 3s
    idle_timeout: 60s
    servers:
`)
	for _, name := range c.names {
		upload := ""
		if name == "media03" {
			upload = ", upload: true"
			// media03 pushes every stream to the others (nginx push): say
			// so, so that players of a live stream spread over all of them.
			if len(c.pushTo) > 0 && c.opts.route != "connect" { // a key of route: command
				upload += ", replicates_to: [" + strings.Join(c.pushTo, ", ") + "]"
			}
		}
		fmt.Fprintf(&cfg, "      - { name: %s, address: %q, weight: %d, maxconn: 200%s }\n",
			name, c.media[name].Opts.RTMPAddr, c.weights[name], upload)
	}
	return cfg.String()
}

// addMedia starts one more nginx media server; it joins the edge's config
// (with weight) at the next c.config().
func (c *cluster) addMedia(t *testing.T, name string, weight int) *harness.Nginx {
	t.Helper()
	n := harness.StartNginx(t, harness.NginxOptions{Name: name, RTMPAddr: harness.FreeAddr(t), HTTPAddr: harness.FreeAddr(t)})
	c.media[name] = n
	c.names = append(c.names, name)
	c.weights[name] = weight
	return n
}

// url is an rtmp:// (or rtmpt://) URL of stream on the edge listener at addr.
func url(scheme, addr, stream string) string { return scheme + "://" + addr + "/live/" + stream }

// hasPublisher is a WaitStat predicate: stream has exactly one publisher.
func hasPublisher(stream string) func(*harness.Stat) bool {
	return func(s *harness.Stat) bool { return len(s.Stream(stream).Publishers) == 1 }
}

// waitMirrored waits until the upload server and every other server carry stream
// (media03 pushes it to media01 and media02), so a player lands on a live stream
// wherever the edge sends it.
func (c *cluster) waitMirrored(t *testing.T, stream string) {
	t.Helper()
	for _, name := range serverNames {
		if n, ok := c.media[name]; ok {
			n.WaitStat(t, "publisher of "+stream, hasPublisher(stream), 20*time.Second)
		}
	}
}

// serverOfPlayer finds the one media server whose /stat lists a player of stream.
func (c *cluster) serverOfPlayer(t *testing.T, stream string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var found []string
		for name, n := range c.media {
			if len(n.Stat(t).Stream(stream).Players) > 0 {
				found = append(found, name)
			}
		}
		if len(found) == 1 {
			return found[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("players of %s found on %v, want exactly one server; stats: %v", stream, found, c.statSummary(t))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// statSummary is every server's /stat, for failure messages.
func (c *cluster) statSummary(t *testing.T) map[string]string {
	out := map[string]string{}
	for name, n := range c.media {
		out[name] = n.Stat(t).String()
	}
	return out
}
