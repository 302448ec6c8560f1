// Package admin is the operator's HTTP endpoint of the edge: /healthz for an
// L4 balancer in front, /metrics for Prometheus, a small JSON API to look at
// and change the running edge (drain a server, end a session, forget a
// client's affinity), and a live stats page at /.
//
// Routes:
//
//	GET    /healthz                                   "ok" 200, or 503 "shutting down" once shutdown began; never needs the token
//	GET    /metrics                                   Options.Metrics (Prometheus text format)
//	GET    /api/v1/backends                           {"backends":[BackendStatus...],"time":"..."}
//	GET    /api/v1/sessions                           {"sessions":[SessionStatus...],"time":"..."}
//	PUT    /api/v1/backends/{backend}/servers/{server} {"state":"ready|drain|maint"} and/or {"weight":0..256} → the ServerStatus after
//	DELETE /api/v1/sessions/{id}                      ends one session → 204
//	DELETE /api/v1/backends/{backend}/stick/{ip}      forgets one client's affinity → 204
//	GET    /                                          the live stats page
//	POST   /login, /logout                            the stats page's sign-in with a token (see below)
//
// "time" is the edge's clock when the list was taken (RFC 3339, in ms): rates
// are byte deltas over it and ages are counted from it, so neither network
// jitter nor a browser's wrong clock distorts them.
//
// Errors are JSON, {"error":"..."}: 400 for a bad body (unknown field, bad
// state or weight, more than 4 KiB), 401 without the token, 403 for a
// cross-origin change made with the page's cookie, 404 for an unknown
// backend, server, session or stick entry, 405 (with Allow) for a wrong
// method. Every change is logged at INFO with the caller's address and what
// changed, old → new.
//
// With Options.Token set, everything but /healthz needs it. Programs send
// "Authorization: Bearer <token>". A browser opening / without it gets a
// sign-in form (401); the token typed there is checked and answered with an
// HttpOnly, SameSite=Strict cookie holding an HMAC of the token (never the
// token itself), which the page's own API calls then carry. Changing the
// token signs every browser out. POST /logout drops the cookie.
//
// The package knows nothing of the edge's internals: the edge hands it a
// Source, so the API can be tested with a fake and the edge package keeps the
// only import arrow (edge imports admin, never the reverse). It is not on the
// media path, so it uses net/http.
package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"time"
)

// ServerStatus is one media server of a backend as the API shows it.
type ServerStatus struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// State is the operator's setting: "ready", "drain" or "maint".
	State string `json:"state"`
	// Up is the health check's verdict, independent of State.
	Up       bool `json:"up"`
	Weight   int  `json:"weight"`
	Sessions int  `json:"sessions"`
	// MaxConn is the server's session limit; 0 means unlimited.
	MaxConn int `json:"maxconn"`
	// Upload marks a server that takes the uploads (publishers).
	Upload   bool  `json:"upload"`
	BytesIn  int64 `json:"bytes_in"`
	BytesOut int64 `json:"bytes_out"`
	// CheckedAt is when the last health check finished (zero: none yet).
	CheckedAt  time.Time `json:"checked_at"`
	CheckError string    `json:"check_error"`
}

// BackendStatus is one backend (a pool of media servers).
type BackendStatus struct {
	Name    string         `json:"name"`
	Servers []ServerStatus `json:"servers"`
	// Queue is how many sessions wait for a free slot right now.
	Queue int `json:"queue"`
	// StickEntries is the size of the source-IP affinity table.
	StickEntries int `json:"stick_entries"`
}

// SessionStatus is one live client session.
type SessionStatus struct {
	ID       string `json:"id"`
	Client   string `json:"client"`
	Listener string `json:"listener"`
	// Proto is the client's wire protocol (rtmp, rtmpt, rtmps).
	Proto  string `json:"proto"`
	App    string `json:"app"`
	TcURL  string `json:"tcurl"`
	Stream string `json:"stream"`
	// Kind is publish or play: the real command once seen, the guess from
	// connect before that.
	Kind    string `json:"kind"`
	Server  string `json:"server"`
	Backend string `json:"backend"`
	// Pick says how the server was chosen (e.g. stick, balance).
	Pick string `json:"pick"`
	// Phase is where the session is in its pipeline (handshake, routing,
	// attach, relay).
	Phase    string    `json:"phase"`
	BytesIn  int64     `json:"bytes_in"`
	BytesOut int64     `json:"bytes_out"`
	Started  time.Time `json:"started"`
	// Replicas are the servers the edge publishes this publish to besides
	// Server (backend key replicate); absent for other sessions.
	Replicas []ReplicaStatus `json:"replicas,omitempty"`
}

// ReplicaStatus is one replica of a replicated publish.
type ReplicaStatus struct {
	Server string `json:"server"`
	// State is joining, live (the server has the stream), backoff (dropped
	// or failed, waiting to rejoin) or ended.
	State   string `json:"state"`
	Bytes   int64  `json:"bytes"`   // written to the server, all its sessions
	Drops   int    `json:"drops"`   // sessions dropped (a bound, a failure)
	Rejoins int    `json:"rejoins"` // sessions started again after a drop
	LagMs   int64  `json:"lag_ms"`  // age of the oldest message not yet sent
	Queued  int    `json:"queued"`  // bytes queued for the server now
	End     string `json:"end,omitempty"`
}

// ServerUpdate is a runtime change to one server; nil fields stay as they are.
type ServerUpdate struct {
	State  *string `json:"state,omitempty"`
	Weight *int    `json:"weight,omitempty"`
}

// Source is what the edge exposes to the admin endpoint. Methods are called
// from HTTP handler goroutines, concurrently with each other and with the
// edge's own work.
type Source interface {
	Backends() []BackendStatus
	Sessions() []SessionStatus
	// UpdateServer applies u and returns the server as it is afterwards.
	UpdateServer(backend, server string, u ServerUpdate) (ServerStatus, error)
	// EndSession ends one session; its end reason names the operator.
	EndSession(id string) error
	// ForgetStick removes client's affinity entry in backend.
	ForgetStick(backend string, client netip.Addr) error
	// Ready is false once shutdown began: /healthz then answers 503 so a
	// balancer in front stops sending new clients.
	Ready() bool
}

// Errors a Source wraps (fmt.Errorf("...: %w", ErrNotFound)) so the handler
// can answer 404 or 400 instead of 500.
var (
	ErrNotFound = errors.New("not found")
	ErrInvalid  = errors.New("invalid")
)

// Server states the API accepts, as routing names them.
const (
	StateReady = "ready"
	StateDrain = "drain"
	StateMaint = "maint"
)

// MaxWeight is the largest weight a server takes (HAProxy's limit); 0 means
// no new sessions except clients stuck to the server.
const MaxWeight = 256

// maxBody bounds a request body: an update is a few dozen bytes.
const maxBody = 4 << 10

// Options configures NewHandler.
type Options struct {
	// Token, when set, is required on everything but /healthz, as
	// "Authorization: Bearer <token>" or as the cookie the stats page's
	// login form sets.
	Token string
	// Metrics serves /metrics (nil: /metrics is 404).
	Metrics http.Handler
	// Logger receives one INFO line per state-changing call (nil: discarded).
	Logger *slog.Logger
}

// NewHandler returns the admin endpoint for src.
func NewHandler(src Source, opts Options) http.Handler {
	return newHandler(src, opts, time.Now)
}

// newHandler takes the clock that stamps the list answers, so a test can
// step it one poll at a time.
func newHandler(src Source, opts Options, now func() time.Time) http.Handler {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &handler{src: src, token: opts.Token, log: log, mux: http.NewServeMux(), now: now}
	if h.token != "" {
		h.cookie = cookieValue(h.token)
	}
	m := h.mux
	m.HandleFunc("GET /healthz", h.healthz)
	if opts.Metrics != nil {
		m.Handle("GET /metrics", opts.Metrics)
	}
	m.HandleFunc("GET /api/v1/backends", h.backends)
	m.HandleFunc("GET /api/v1/sessions", h.sessions)
	m.HandleFunc("PUT /api/v1/backends/{backend}/servers/{server}", h.updateServer)
	m.HandleFunc("DELETE /api/v1/sessions/{id}", h.endSession)
	m.HandleFunc("DELETE /api/v1/backends/{backend}/stick/{ip}", h.forgetStick)
	m.HandleFunc("GET /{$}", h.page)
	m.HandleFunc("POST /login", h.login)
	m.HandleFunc("POST /logout", h.logout)
	return h
}

type handler struct {
	src    Source
	token  string
	cookie string // the login cookie's expected value, derived from token
	log    *slog.Logger
	mux    *http.ServeMux
	now    func() time.Time
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// /healthz is asked by balancers that hold no token; /login is how a
	// browser without one gets in.
	open := r.URL.Path == "/healthz" || r.URL.Path == "/login"
	if !open && h.token != "" {
		via, ok := h.authorized(r)
		if !ok {
			h.unauthorized(w, r)
			return
		}
		if via == viaCookie && !safeMethod(r.Method) && !sameOrigin(r) {
			// A cookie travels with requests a foreign page makes; a state
			// change must come from the stats page itself.
			writeError(w, http.StatusForbidden, "cross-origin request refused")
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), viaKey{}, via))
	}
	if _, pattern := h.mux.Handler(r); pattern == "" {
		// The mux would answer 404 or 405 in plain text; API clients get
		// the same status (and Allow header) with a JSON error.
		rec := &statusOnly{header: http.Header{}}
		h.mux.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		status := rec.status
		if status == 0 {
			status = http.StatusNotFound
		}
		writeError(w, status, http.StatusText(status))
		return
	}
	h.mux.ServeHTTP(w, r)
}

// statusOnly records what the mux's own 404/405 handler answers.
type statusOnly struct {
	header http.Header
	status int
}

func (s *statusOnly) Header() http.Header { return s.header }
func (s *statusOnly) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}
func (s *statusOnly) Write(b []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	return len(b), nil
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !h.src.Ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("shutting down\n"))
		return
	}
	w.Write([]byte("ok\n"))
}
