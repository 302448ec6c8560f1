package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
)

// writeJSON answers v with status; API answers are never cached, they are
// the live state.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// errorBody is every API error: {"error":"..."}.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

// writeSourceError maps the Source's wrapped sentinels to a status.
func writeSourceError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

// stamp is the list answers' "time": milliseconds, the precision every
// browser's Date.parse reads.
func (h *handler) stamp() string {
	return h.now().UTC().Format("2006-01-02T15:04:05.000Z")
}

func (h *handler) backends(w http.ResponseWriter, r *http.Request) {
	b := h.src.Backends()
	if b == nil {
		b = []BackendStatus{} // [] rather than null: clients iterate it
	}
	for i := range b {
		if b[i].Servers == nil {
			b[i].Servers = []ServerStatus{}
		}
	}
	writeJSON(w, http.StatusOK, struct {
		Backends []BackendStatus `json:"backends"`
		Time     string          `json:"time"`
	}{b, h.stamp()})
}

func (h *handler) sessions(w http.ResponseWriter, r *http.Request) {
	s := h.src.Sessions()
	if s == nil {
		s = []SessionStatus{}
	}
	writeJSON(w, http.StatusOK, struct {
		Sessions []SessionStatus `json:"sessions"`
		Time     string          `json:"time"`
	}{s, h.stamp()})
}

// decodeUpdate reads one ServerUpdate: bounded, strict (a misspelt field is
// an error, not a silent no-op), and checked before the Source sees it.
func decodeUpdate(w http.ResponseWriter, r *http.Request) (ServerUpdate, error) {
	var u ServerUpdate
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return u, fmt.Errorf("body larger than %d bytes", maxBody)
		}
		return u, fmt.Errorf("reading body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		return u, fmt.Errorf("body: %v", err)
	}
	if dec.More() {
		return u, errors.New("body: more than one JSON value")
	}
	if u.State == nil && u.Weight == nil {
		return u, errors.New(`nothing to change: give "state" and/or "weight"`)
	}
	if u.State != nil {
		switch *u.State {
		case StateReady, StateDrain, StateMaint:
		default:
			return u, fmt.Errorf("state %q: want ready, drain or maint", *u.State)
		}
	}
	if u.Weight != nil && (*u.Weight < 0 || *u.Weight > MaxWeight) {
		return u, fmt.Errorf("weight %d: want 0..%d", *u.Weight, MaxWeight)
	}
	return u, nil
}

func (h *handler) updateServer(w http.ResponseWriter, r *http.Request) {
	backend, server := r.PathValue("backend"), r.PathValue("server")
	u, err := decodeUpdate(w, r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	before, known := h.findServer(backend, server)
	after, err := h.src.UpdateServer(backend, server, u)
	if err != nil {
		h.log.Warn("admin: server update refused", "remote", r.RemoteAddr, "backend", backend, "server", server, "error", err.Error())
		writeSourceError(w, err)
		return
	}
	// The log line says what changed, old → new, so an incident timeline
	// can be read from the log alone.
	var changes []string
	if u.State != nil {
		changes = append(changes, change("state", known, before.State, after.State))
	}
	if u.Weight != nil {
		changes = append(changes, change("weight", known, before.Weight, after.Weight))
	}
	h.log.Info("admin: server updated", "remote", r.RemoteAddr, "backend", backend, "server", server,
		"changes", strings.Join(changes, ", "))
	writeJSON(w, http.StatusOK, after)
}

func change[T comparable](what string, known bool, before, after T) string {
	if !known {
		return fmt.Sprintf("%s →%v", what, after)
	}
	if before == after {
		return fmt.Sprintf("%s %v (unchanged)", what, after)
	}
	return fmt.Sprintf("%s %v→%v", what, before, after)
}

func (h *handler) findServer(backend, server string) (ServerStatus, bool) {
	for _, b := range h.src.Backends() {
		if b.Name != backend {
			continue
		}
		for _, s := range b.Servers {
			if s.Name == server {
				return s, true
			}
		}
	}
	return ServerStatus{}, false
}

func (h *handler) endSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	// Looked up first so the log line says whose session it was.
	var attrs []any
	for _, s := range h.src.Sessions() {
		if s.ID == id {
			attrs = []any{"client", s.Client, "app", s.App, "stream", s.Stream, "kind", s.Kind, "server", s.Server}
			break
		}
	}
	if err := h.src.EndSession(id); err != nil {
		h.log.Warn("admin: end session refused", "remote", r.RemoteAddr, "id", id, "error", err.Error())
		writeSourceError(w, err)
		return
	}
	h.log.Info("admin: session ended", append([]any{"remote", r.RemoteAddr, "id", id}, attrs...)...)
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) forgetStick(w http.ResponseWriter, r *http.Request) {
	backend, raw := r.PathValue("backend"), r.PathValue("ip")
	ip, err := netip.ParseAddr(raw)
	if err != nil || ip.Zone() != "" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%q is not an IP address", raw))
		return
	}
	// The stick table keys IPv4 clients as 4-byte addresses; an operator may
	// paste the mapped form a dual-stack socket shows.
	ip = ip.Unmap()
	if err := h.src.ForgetStick(backend, ip); err != nil {
		h.log.Warn("admin: forget stick refused", "remote", r.RemoteAddr, "backend", backend, "client", ip.String(), "error", err.Error())
		writeSourceError(w, err)
		return
	}
	h.log.Info("admin: stick entry forgotten", slog.String("remote", r.RemoteAddr), slog.String("backend", backend), slog.String("client", ip.String()))
	w.WriteHeader(http.StatusNoContent)
}
