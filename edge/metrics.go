package edge

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the edge's Prometheus series. A nil *metrics records nothing,
// so tests can build sessions without a registry.
type metrics struct {
	sessions   *prometheus.CounterVec // ended sessions
	active     *prometheus.GaugeVec
	rejected   *prometheus.CounterVec
	bytes      *prometheus.CounterVec
	serverUp   *prometheus.GaugeVec
	misrouted  *prometheus.CounterVec
	retries    *prometheus.CounterVec
	panics     prometheus.Counter
	queueWaits prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
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
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtmp_edge_bytes_total", Help: "Bytes relayed; in = client to server.",
		}, []string{"direction"}),
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
	}
	reg.MustRegister(m.sessions, m.active, m.rejected, m.bytes, m.serverUp, m.misrouted, m.retries, m.panics, m.queueWaits)
	return m
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

func (m *metrics) reject(listener, reason string) {
	if m != nil {
		m.rejected.WithLabelValues(listener, reason).Inc()
	}
}

func (m *metrics) sessionEnded(s *session) {
	if m == nil {
		return
	}
	m.sessions.WithLabelValues(s.listener, s.proto, s.kindLabel(), s.serverName()).Inc()
	m.bytes.WithLabelValues("in").Add(float64(s.stats.ClientToServer))
	m.bytes.WithLabelValues("out").Add(float64(s.stats.ServerToClient))
	if s.misrouted {
		m.misrouted.WithLabelValues(s.listener).Inc()
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
