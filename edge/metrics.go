package edge

import (
	goruntime "runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rtmp-edge/rtmp-edge/edge/replicate"
	"github.com/rtmp-edge/rtmp-edge/rtmpt"
)

// metrics are the edge's Prometheus series. A nil *metrics records nothing,
// so tests can build sessions without a registry.
//
// Counters that follow events are updated when the event happens; the series
// that describe the present (bytes of live sessions, sessions per server,
// queue, stick entries, RTMPT sessions) are read at scrape time by
// liveCollector, so they are never behind.
type metrics struct {
	sessions   *prometheus.CounterVec // ended sessions
	active     *prometheus.GaugeVec
	rejected   *prometheus.CounterVec
	serverUp   *prometheus.GaugeVec
	misrouted  *prometheus.CounterVec
	retries    *prometheus.CounterVec
	panics     prometheus.Counter
	queueWaits prometheus.Histogram
	reloads    *prometheus.CounterVec
	// tlsHandshakes counts completed TLS handshakes; sni is the configured
	// entry that matched ("" for the top-level certificate), never the name
	// a client sent, which would let clients mint series.
	tlsHandshakes *prometheus.CounterVec
	tlsNotAfter   *prometheus.GaugeVec
	// commandRelays counts route: command sessions that started relaying,
	// by how the server's bytes reach the client from then on (see
	// commandRelayMode): the proof that such a session is spliced again.
	commandRelays *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, e *Edge) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtmp_edge_sessions_total", Help: "Relayed sessions that ended, by listener, protocol, kind and server.",
		}, []string{"listener", "proto", "kind", "server"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rtmp_edge_sessions_active", Help: "Client connections open now, by listener.",
		}, []string{"listener"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtmp_edge_rejected_total", Help: "Clients closed before relaying, by listener and reason.",
		}, []string{"listener", "reason"}),
		serverUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rtmp_edge_server_up", Help: "1 when the health check says the media server is up.",
		}, []string{"backend", "server"}),
		misrouted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtmp_edge_misrouted_total", Help: "Publishes that reached a non-upload server: the classification rules need a line more.",
		}, []string{"listener"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtmp_edge_dial_failures_total", Help: "Failed dials or media-server handshakes (each retried on another server).",
		}, []string{"backend", "server"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rtmp_edge_panics_total", Help: "Sessions ended by a recovered panic (a bug: please report).",
		}),
		queueWaits: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rtmp_edge_queue_wait_seconds", Help: "Time sessions waited for a free server slot.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtmp_edge_reloads_total", Help: "Configuration reloads, by result (ok, failed).",
		}, []string{"result"}),
		tlsHandshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtmp_edge_tls_handshakes_total", Help: "Completed TLS handshakes (rtmps, rtmpts), by listener, TLS version and the sni entry that matched (\"\" = top-level certificate).",
		}, []string{"listener", "version", "sni"}),
		tlsNotAfter: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rtmp_edge_tls_cert_not_after_seconds", Help: "Unix time when the first of a TLS listener's certificates expires: renew (and SIGHUP) before it.",
		}, []string{"listener"}),
		commandRelays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtmp_edge_command_relayed_total", Help: "Sessions routed on their publish/play (route: command) that started relaying, by listener and mode: splice (the reply filter finished, the kernel moves the bytes), tee (the same for the server's bytes; a replicated publisher's bytes are copied to feed its replicas), copy (the filter finished, a tunnel or TLS conn is copied in user space), filter (the reply filter stays in the server's path).",
		}, []string{"listener", "mode"}),
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rtmp_edge_build_info", Help: "Always 1; the labels say which build runs.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(buildVersion(), goruntime.Version()).Set(1)
	reg.MustRegister(m.sessions, m.active, m.rejected, m.serverUp, m.misrouted, m.retries, m.panics, m.queueWaits,
		m.reloads, m.tlsHandshakes, m.tlsNotAfter, m.commandRelays, buildInfo, &liveCollector{e: e},
		&replicaCollector{e: e})
	// The Go runtime and the process (goroutines, descriptors, RSS): what an
	// operator looks at first when the edge itself is in doubt. Registering
	// twice (a registry shared with another component) is not an error here.
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			if _, dup := err.(prometheus.AlreadyRegisteredError); !dup {
				panic(err)
			}
		}
	}
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("failed")
	return m
}

// buildVersion is the module version, or the VCS revision of a source build.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && (v == "" || v == "(devel)") {
			v = s.Value
			if len(v) > 12 {
				v = v[:12]
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return v
}

var (
	descBytes = prometheus.NewDesc("rtmp_edge_bytes_total",
		"Bytes relayed, live sessions included; in = client to server (the client's bytes after its handshake).", []string{"direction"}, nil)
	descServerBytes = prometheus.NewDesc("rtmp_edge_server_bytes_total",
		"Bytes relayed per media server, live sessions included.", []string{"backend", "server", "direction"}, nil)
	descServerSessions = prometheus.NewDesc("rtmp_edge_server_sessions",
		"Sessions holding a slot on the media server now.", []string{"backend", "server"}, nil)
	descQueue = prometheus.NewDesc("rtmp_edge_queue_length",
		"Sessions waiting for a free server slot now.", []string{"backend"}, nil)
	descStick = prometheus.NewDesc("rtmp_edge_stick_entries",
		"Client affinity entries (live clients and idle ones not yet expired).", []string{"backend"}, nil)
	descTunnels = prometheus.NewDesc("rtmp_edge_rtmpt_sessions",
		"RTMPT tunnel sessions open now.", []string{"listener"}, nil)
	descTunnelRefused = prometheus.NewDesc("rtmp_edge_rtmpt_refused_total",
		"RTMPT requests refused and tunnel sessions failed, by listener and reason.", []string{"listener", "reason"}, nil)
	descTunnelMemory = prometheus.NewDesc("rtmp_edge_rtmpt_memory_bytes",
		"RTMPT tunnel memory held against the budget (in_use, of it parked out-of-order bodies), and the budget.", []string{"listener", "kind"}, nil)
	descSessionsLive = prometheus.NewDesc("rtmp_edge_sessions_live",
		"Sessions registered now, by phase (handshake, connect, routing, relay).", []string{"phase"}, nil)
)

// liveCollector reads the present state of the edge at scrape time.
type liveCollector struct{ e *Edge }

func (c *liveCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBytes, descServerBytes, descServerSessions, descQueue, descStick, descTunnels,
		descTunnelRefused, descTunnelMemory, descSessionsLive} {
		ch <- d
	}
}

func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	e := c.e
	total, byServer := e.sessions.traffic()
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(total.in), "in")
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(total.out), "out")
	for k, v := range byServer {
		ch <- prometheus.MustNewConstMetric(descServerBytes, prometheus.CounterValue, float64(v.in), k.backend, k.server, "in")
		ch <- prometheus.MustNewConstMetric(descServerBytes, prometheus.CounterValue, float64(v.out), k.backend, k.server, "out")
	}
	phases := map[string]int{phaseHandshake: 0, phaseConnect: 0, phaseRouting: 0, phaseRelay: 0}
	for _, s := range e.sessions.snapshot() {
		s.mu.Lock()
		phases[s.phase]++
		s.mu.Unlock()
	}
	for p, n := range phases {
		ch <- prometheus.MustNewConstMetric(descSessionsLive, prometheus.GaugeValue, float64(n), p)
	}
	rt := e.rt.Load()
	for name, b := range rt.backends {
		for _, s := range b.pool.Servers() {
			ch <- prometheus.MustNewConstMetric(descServerSessions, prometheus.GaugeValue, float64(s.Active()), name, s.Name)
		}
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(b.pool.Waiting()), name)
		ch <- prometheus.MustNewConstMetric(descStick, prometheus.GaugeValue, float64(b.pool.StickLen()), name)
	}
	for _, l := range rt.order {
		if l.acc == nil || l.acc.tunnel == nil {
			continue
		}
		name := l.cfg.Name
		st := l.acc.tunnel.Stats()
		ch <- prometheus.MustNewConstMetric(descTunnels, prometheus.GaugeValue, float64(l.acc.tunnel.Sessions()), name)
		for _, reason := range rtmpt.RejectReasons() {
			ch <- prometheus.MustNewConstMetric(descTunnelRefused, prometheus.CounterValue, float64(st.Rejected[reason]), name, reason)
		}
		ch <- prometheus.MustNewConstMetric(descTunnelMemory, prometheus.GaugeValue, float64(st.MemoryInUse), name, "in_use")
		ch <- prometheus.MustNewConstMetric(descTunnelMemory, prometheus.GaugeValue, float64(st.MemoryParked), name, "parked")
		ch <- prometheus.MustNewConstMetric(descTunnelMemory, prometheus.GaugeValue, float64(st.MemoryBudget), name, "budget")
	}
}

// counterSample is one counter series, for an upgrade's new process to go
// on from.
type counterSample struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`
}

// carriedCounters are the event counters an upgrade carries over (the live
// series are read from state that moves by itself).
func (m *metrics) carriedCounters() map[string]*prometheus.CounterVec {
	return map[string]*prometheus.CounterVec{
		"rtmp_edge_sessions_total": m.sessions, "rtmp_edge_rejected_total": m.rejected,
		"rtmp_edge_misrouted_total": m.misrouted, "rtmp_edge_dial_failures_total": m.retries,
		"rtmp_edge_reloads_total": m.reloads, "rtmp_edge_tls_handshakes_total": m.tlsHandshakes,
		"rtmp_edge_command_relayed_total": m.commandRelays,
	}
}

// counterSamples reads the carried counters from reg.
func (m *metrics) counterSamples(reg prometheus.Gatherer) []counterSample {
	if m == nil {
		return nil
	}
	carried := m.carriedCounters()
	mfs, err := reg.Gather()
	if err != nil {
		return nil
	}
	var out []counterSample
	for _, mf := range mfs {
		if _, ok := carried[mf.GetName()]; !ok && mf.GetName() != "rtmp_edge_panics_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			if mt.Counter == nil || mt.Counter.GetValue() == 0 {
				continue
			}
			labels := map[string]string{}
			for _, lp := range mt.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			out = append(out, counterSample{Name: mf.GetName(), Labels: labels, Value: mt.Counter.GetValue()})
		}
	}
	return out
}

// addCounters goes on from an old process's counters.
func (m *metrics) addCounters(samples []counterSample) {
	if m == nil {
		return
	}
	carried := m.carriedCounters()
	for _, c := range samples {
		if c.Name == "rtmp_edge_panics_total" {
			m.panics.Add(c.Value)
			continue
		}
		if vec, ok := carried[c.Name]; ok {
			if ctr, err := vec.GetMetricWith(c.Labels); err == nil {
				ctr.Add(c.Value)
			}
		}
	}
}

func (m *metrics) connOpened(listener string) {
	if m != nil {
		m.active.WithLabelValues(listener).Inc()
	}
}

func (m *metrics) connClosed(listener string) {
	if m != nil {
		m.active.WithLabelValues(listener).Dec()
	}
}

func (m *metrics) tlsHandshake(listener, version, sni string) {
	if m != nil {
		m.tlsHandshakes.WithLabelValues(listener, version, sni).Inc()
	}
}

func (m *metrics) tlsCertificates(listener string, notAfter time.Time) {
	if m != nil {
		m.tlsNotAfter.WithLabelValues(listener).Set(float64(notAfter.Unix()))
	}
}

func (m *metrics) reject(listener, reason string) {
	if m != nil {
		m.rejected.WithLabelValues(listener, reason).Inc()
	}
}

// sessionEnded counts an ended relayed session. Call with s.mu held.
func (m *metrics) sessionEnded(s *session) {
	if m == nil {
		return
	}
	m.sessions.WithLabelValues(s.l.cfg.Name, s.proto, s.kindLabel(), s.serverName()).Inc()
	if s.misrouted {
		m.misrouted.WithLabelValues(s.l.cfg.Name).Inc()
	}
}

func (m *metrics) commandRelayed(listener, mode string) {
	if m != nil {
		m.commandRelays.WithLabelValues(listener, mode).Inc()
	}
}

func (m *metrics) setServerUp(backend, server string, up bool) {
	if m == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.serverUp.WithLabelValues(backend, server).Set(v)
}

func (m *metrics) dialFailed(backend, server string) {
	if m != nil {
		m.retries.WithLabelValues(backend, server).Inc()
	}
}

func (m *metrics) panicked() {
	if m != nil {
		m.panics.Inc()
	}
}

func (m *metrics) queued(seconds float64) {
	if m != nil {
		m.queueWaits.Observe(seconds)
	}
}

func (m *metrics) reloaded(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.reloads.WithLabelValues("ok").Inc()
	} else {
		m.reloads.WithLabelValues("failed").Inc()
	}
}

// The replication's series (replicate.go), read at scrape time from each
// backend's replicate.Counters and its live publishes.
var (
	descReplicaSessions = prometheus.NewDesc("rtmp_edge_replica_sessions_total",
		"Replica sessions the edge started to the media server (first joins and rejoins), for backends with replicate.", []string{"backend", "server"}, nil)
	descReplicaLive = prometheus.NewDesc("rtmp_edge_replica_live",
		"Replica sessions whose publish the media server accepted, now: streams the server has because the edge replicates them.", []string{"backend", "server"}, nil)
	descReplicaBytes = prometheus.NewDesc("rtmp_edge_replica_bytes_total",
		"Bytes the edge's replica sessions wrote to the media server.", []string{"backend", "server"}, nil)
	descReplicaDrops = prometheus.NewDesc("rtmp_edge_replica_drops_total",
		"Replica sessions dropped (buffer full, max_lag, a failure of the server); each rejoins after a back-off.", []string{"backend", "server"}, nil)
	descReplicaRejoins = prometheus.NewDesc("rtmp_edge_replica_rejoins_total",
		"Replica sessions started again after a drop.", []string{"backend", "server"}, nil)
	descReplicaQueued = prometheus.NewDesc("rtmp_edge_replica_queued_bytes",
		"Bytes queued for the media server's replicas now (each replica is bounded by replicate.buffer).", []string{"backend", "server"}, nil)
	descReplicationsStopped = prometheus.NewDesc("rtmp_edge_replications_stopped_total",
		"Publishes whose replication stopped before the publisher ended (the publisher's own session goes on), by reason.", []string{"backend", "reason"}, nil)
)

// replicaCollector exports every backend's replication counts.
type replicaCollector struct{ e *Edge }

func (c *replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReplicaSessions, descReplicaLive, descReplicaBytes, descReplicaDrops,
		descReplicaRejoins, descReplicaQueued, descReplicationsStopped} {
		ch <- d
	}
}

func (c *replicaCollector) Collect(ch chan<- prometheus.Metric) {
	for name, b := range c.e.rt.Load().backends {
		ps := b.ps
		if ps.replicate.Load() == nil && len(ps.repl.counters.Snapshot()) == 0 {
			continue // never replicated: no series
		}
		queued := map[string]int{}
		for _, s := range b.pool.Servers() {
			queued[s.Name] = 0
		}
		ps.repl.each(func(_ *session, p *replicate.Publish) {
			for _, r := range p.Replicas() {
				queued[r.Server] += r.Queued
			}
		})
		counts := ps.repl.counters.Snapshot()
		for server := range counts { // a server a reload removed keeps its totals
			if _, ok := queued[server]; !ok {
				queued[server] = 0
			}
		}
		for server := range queued {
			sc := counts[server]
			ch <- prometheus.MustNewConstMetric(descReplicaSessions, prometheus.CounterValue, float64(sc.Sessions), name, server)
			ch <- prometheus.MustNewConstMetric(descReplicaLive, prometheus.GaugeValue, float64(sc.Live), name, server)
			ch <- prometheus.MustNewConstMetric(descReplicaBytes, prometheus.CounterValue, float64(sc.Bytes), name, server)
			ch <- prometheus.MustNewConstMetric(descReplicaDrops, prometheus.CounterValue, float64(sc.Drops), name, server)
			ch <- prometheus.MustNewConstMetric(descReplicaRejoins, prometheus.CounterValue, float64(sc.Rejoins), name, server)
			ch <- prometheus.MustNewConstMetric(descReplicaQueued, prometheus.GaugeValue, float64(queued[server]), name, server)
		}
		for reason, n := range ps.repl.counters.Stops() {
			ch <- prometheus.MustNewConstMetric(descReplicationsStopped, prometheus.CounterValue, float64(n), name, reason)
		}
	}
}
