package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// adminBodyLimit caps what the admin client reads from one answer.
const adminBodyLimit = 4 << 20

// ErrAdminStatus is returned when the admin API answers with a status that is
// not 2xx; the error text carries the status and the start of the body.
var ErrAdminStatus = errors.New("admin API answered an error status")

// Admin is a client of the edge's admin API (/api/v1/...). Token, when set, is
// sent as "Authorization: Bearer <token>".
type Admin struct {
	Addr  string // "127.0.0.1:port"
	Token string
}

// Admin returns a client of the edge's admin address with the config's token.
func (e *Edge) Admin() *Admin { return &Admin{Addr: e.Metrics, Token: e.AdminToken} }

// APIServer is one server in GET /api/v1/backends.
type APIServer struct {
	Name       string `json:"name"`
	Address    string `json:"address"`
	State      string `json:"state"` // ready | drain | maint
	Up         bool   `json:"up"`
	Weight     int    `json:"weight"`
	Sessions   int    `json:"sessions"`
	BytesIn    int64  `json:"bytes_in"`
	BytesOut   int64  `json:"bytes_out"`
	CheckedAt  any    `json:"checked_at"`
	CheckError any    `json:"check_error"`
}

// APIBackend is one backend in GET /api/v1/backends.
type APIBackend struct {
	Name    string      `json:"name"`
	Servers []APIServer `json:"servers"`
}

// Server returns the named server and whether it is listed.
func (b APIBackend) Server(name string) (APIServer, bool) {
	for _, s := range b.Servers {
		if s.Name == name {
			return s, true
		}
	}
	return APIServer{}, false
}

// APISession is one session in GET /api/v1/sessions.
type APISession struct {
	ID       string `json:"id"`
	Client   string `json:"client"`
	Listener string `json:"listener"`
	Proto    string `json:"proto"`
	App      string `json:"app"`
	TcURL    string `json:"tcurl"`
	Stream   string `json:"stream"`
	Kind     string `json:"kind"`
	Server   string `json:"server"`
	BytesIn  int64  `json:"bytes_in"`
	BytesOut int64  `json:"bytes_out"`
	Started  any    `json:"started"`
}

// ServerChange is the body of PUT /api/v1/backends/{b}/servers/{s}; nil
// fields are left out, so a state change does not touch the weight.
type ServerChange struct {
	State  *string `json:"state,omitempty"`
	Weight *int    `json:"weight,omitempty"`
}

// State is a ServerChange that sets only the state.
func State(s string) ServerChange { return ServerChange{State: &s} }

// Weight is a ServerChange that sets only the weight.
func Weight(w int) ServerChange { return ServerChange{Weight: &w} }

// Backends is GET /api/v1/backends.
func (a *Admin) Backends() ([]APIBackend, error) {
	var out struct {
		Backends []APIBackend `json:"backends"`
	}
	if err := a.do(http.MethodGet, "/api/v1/backends", nil, &out); err != nil {
		return nil, err
	}
	return out.Backends, nil
}

// Backend is the named backend of GET /api/v1/backends.
func (a *Admin) Backend(name string) (APIBackend, error) {
	bs, err := a.Backends()
	if err != nil {
		return APIBackend{}, err
	}
	for _, b := range bs {
		if b.Name == name {
			return b, nil
		}
	}
	return APIBackend{}, fmt.Errorf("GET /api/v1/backends: no backend %q in %+v", name, bs)
}

// Sessions is GET /api/v1/sessions.
func (a *Admin) Sessions() ([]APISession, error) {
	var out struct {
		Sessions []APISession `json:"sessions"`
	}
	if err := a.do(http.MethodGet, "/api/v1/sessions", nil, &out); err != nil {
		return nil, err
	}
	return out.Sessions, nil
}

// SessionOf is the listed session of the client at addr ("ip:port").
func (a *Admin) SessionOf(clientAddr string) (APISession, error) {
	ss, err := a.Sessions()
	if err != nil {
		return APISession{}, err
	}
	for _, s := range ss {
		if s.Client == clientAddr {
			return s, nil
		}
	}
	return APISession{}, fmt.Errorf("GET /api/v1/sessions: no session of %s among %d", clientAddr, len(ss))
}

// SetServer is PUT /api/v1/backends/{backend}/servers/{server}.
func (a *Admin) SetServer(backend, server string, c ServerChange) error {
	body, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return a.do(http.MethodPut, "/api/v1/backends/"+url.PathEscape(backend)+"/servers/"+url.PathEscape(server), body, nil)
}

// EndSession is DELETE /api/v1/sessions/{id}.
func (a *Admin) EndSession(id string) error {
	return a.do(http.MethodDelete, "/api/v1/sessions/"+url.PathEscape(id), nil, nil)
}

// ForgetStick is DELETE /api/v1/backends/{backend}/stick/{ip}.
func (a *Admin) ForgetStick(backend, ip string) error {
	return a.do(http.MethodDelete, "/api/v1/backends/"+url.PathEscape(backend)+"/stick/"+url.PathEscape(ip), nil, nil)
}

// Get fetches path with the client's token and returns the status and body,
// whatever the status (for checks of the token itself).
func (a *Admin) Get(path string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, b, err := a.send(ctx, http.MethodGet, path, nil)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

// do sends one request (5 s bound) and decodes a 2xx JSON answer into out
// when out is not nil.
func (a *Admin) do(method, path string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, b, err := a.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %w: %s: %.300s", method, path, ErrAdminStatus, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode %.300s: %w", method, path, b, err)
		}
	}
	return nil
}

func (a *Admin) send(ctx context.Context, method, path string, body []byte) (*http.Response, []byte, error) {
	if a.Addr == "" {
		return nil, nil, errors.New("admin API: no admin address in the config")
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+a.Addr+path, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.Token != "" {
		req.Header.Set("Authorization", "Bearer "+a.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, adminBodyLimit))
	if err != nil {
		return resp, nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	return resp, b, nil
}
