package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/handover"
	"github.com/rtmp-edge/rtmp-edge/routing"
	"github.com/rtmp-edge/rtmp-edge/upstream"
)

// An upgrade moves everything that can move from this process to a new one
// started from the same binary path: first the listening sockets (the new
// process accepts from then on), then the state that outlives sessions
// (operators' runtime changes, stick tables, byte totals), then every
// session that is relaying between two TCP sockets, one at a time: its relay
// is stopped at a point where no byte of it is in this process, and the new
// process resumes it on the same two sockets. What cannot move (sessions
// still being set up, TLS and RTMPT sessions, whose state lives in this
// process's memory) finishes here; the old process exits when it holds
// nothing.
//
// The exchange, old → new unless marked:
//
//	hello (new → old)        the new process started and read its config
//	listeners + fds          the listening sockets, by configured address, and the admin socket
//	state, stick…, state-end runtime changes, byte totals, stick entries
//	ready (new → old)        the new process accepts on the sockets
//	session + 2 fds          one relaying session (client, media server)
//	adopted (new → old)      …resumed there (or the error)
//	done                     nothing more
//
// Every step has a deadline; a new process that fails or stalls before
// "ready" is dropped and this process goes on serving everything.

// upgradeTimeout is how long the new process has to say hello and ready.
const upgradeTimeout = 10 * time.Second

type handoverListeners struct {
	Addresses []string `json:"addresses"` // one file each, in order
	Admin     string   `json:"admin"`     // non-empty: one more file, last
}

type handoverServer struct {
	Backend string `json:"backend"`
	Server  string `json:"server"`
	State   string `json:"state"`
	Weight  int    `json:"weight"`
}

type handoverTotals struct {
	Backend string `json:"backend"`
	Server  string `json:"server"`
	In      int64  `json:"in"`
	Out     int64  `json:"out"`
}

type handoverState struct {
	Servers  []handoverServer `json:"servers"`
	Counters []counterSample  `json:"counters"`
	BytesIn  int64            `json:"bytes_in"`
	BytesOut int64            `json:"bytes_out"`
	Totals   []handoverTotals `json:"totals"`
}

type handoverStick struct {
	Backend string               `json:"backend"`
	Entries []routing.StickEntry `json:"entries"`
}

// stickChunk keeps each stick message well under handover.MaxMessage.
const stickChunk = 5000

type handoverSession struct {
	ID         string    `json:"id"`
	Listener   string    `json:"listener"`
	Proto      string    `json:"proto"`
	Client     string    `json:"client"`
	Local      string    `json:"local"`
	Started    time.Time `json:"started"`
	Digest     bool      `json:"digest"`
	App        string    `json:"app"`
	TcURL      string    `json:"tcurl"`
	FlashVer   string    `json:"flashver"`
	Type       string    `json:"type"`
	Kind       string    `json:"kind"`
	KindReason string    `json:"kind_reason"`
	Backend    string    `json:"backend"`
	Server     string    `json:"server"`
	Pick       string    `json:"pick"`
	Attempts   int       `json:"attempts"`
	Command    string    `json:"command"`
	Stream     string    `json:"stream"`
	BytesIn    int64     `json:"bytes_in"`
	BytesOut   int64     `json:"bytes_out"`
}

type handoverAdopted struct {
	ID    string `json:"id"`
	Error string `json:"error,omitempty"`
}

// UpgradeReport says what an upgrade moved.
type UpgradeReport struct {
	Listeners int // listening sockets handed over (the admin one included)
	Moved     int // sessions now relayed by the new process
	Stayed    int // sessions that finish here
	// LongestPause is the longest time a moved session's relay stood still:
	// from the start of its detach to the new process's word that it runs.
	LongestPause time.Duration
}

// detachable is the relay's Detach (see upstream.Relaying).
type detachable interface {
	Detach() (client, server *os.File, err error)
}

// HandOver runs the old side of an upgrade over ch. On an error before the
// new process said ready nothing has changed here: the caller stops the new
// process and this one goes on serving. After ready, this process accepts
// no more clients; its remaining sessions end here in their own time.
func (e *Edge) HandOver(ch *handover.Channel) (UpgradeReport, error) {
	var rep UpgradeReport
	if _, err := ch.Expect("hello", time.Now().Add(upgradeTimeout), nil); err != nil {
		return rep, fmt.Errorf("the new process did not start: %w", err)
	}
	e.mu.Lock()
	if e.stopping.Load() {
		e.mu.Unlock()
		return rep, errors.New("the edge is stopping")
	}
	msg, files, err := e.listenerFiles()
	if err == nil {
		err = ch.Send("listeners", msg, files...)
	}
	handover.CloseFiles(files) // the new process has its own copies now
	if err == nil {
		err = e.sendState(ch)
	}
	e.mu.Unlock()
	if err != nil {
		return rep, err
	}
	if _, err := ch.Expect("ready", time.Now().Add(upgradeTimeout), nil); err != nil {
		return rep, fmt.Errorf("the new process did not get ready: %w", err)
	}
	rep.Listeners = len(files)

	// The new process accepts now: stop accepting here. Closing our copies of
	// the sockets leaves them open in the new process.
	e.mu.Lock()
	e.stopping.Store(true) // /healthz of this process: 503; the new one answers on the socket
	for _, a := range e.acceptors {
		a.stopAccepting()
	}
	if e.admin != nil {
		e.admin.close()
	}
	e.mu.Unlock()

	for _, s := range e.sessions.snapshot() {
		t0 := time.Now()
		moved, err := e.moveSession(ch, s)
		if moved {
			rep.LongestPause = max(rep.LongestPause, time.Since(t0))
		}
		if err != nil {
			e.log.Warn("upgrade: a session stays in this process", "id", s.id, "err", err.Error())
		}
		if moved {
			rep.Moved++
		}
	}
	rep.Stayed = e.sessions.count()
	if err := ch.Send("done", nil); err != nil {
		e.log.Warn("upgrade: the new process did not take the end of the hand-over", "err", err.Error())
	}
	return rep, nil
}

// listenerFiles dups every listening socket. Call with e.mu held.
func (e *Edge) listenerFiles() (handoverListeners, []*os.File, error) {
	var msg handoverListeners
	var files []*os.File
	for addr, a := range e.acceptors {
		f, err := a.ln.(*net.TCPListener).File()
		if err != nil {
			handover.CloseFiles(files)
			return msg, nil, fmt.Errorf("listener %s: %w", addr, err)
		}
		msg.Addresses = append(msg.Addresses, addr)
		files = append(files, f)
	}
	if e.admin != nil {
		f, err := e.admin.ln.(*net.TCPListener).File()
		if err != nil {
			handover.CloseFiles(files)
			return msg, nil, fmt.Errorf("admin: %w", err)
		}
		msg.Admin = e.admin.cfg.Address
		files = append(files, f)
	}
	return msg, files, nil
}

// sendState sends the runtime changes, totals and stick tables. Call with
// e.mu held.
func (e *Edge) sendState(ch *handover.Channel) error {
	var st handoverState
	for name, ps := range e.pools {
		for _, s := range ps.pool.Servers() {
			st.Servers = append(st.Servers, handoverServer{Backend: name, Server: s.Name, State: s.State().String(), Weight: s.Weight()})
		}
	}
	st.Counters = e.metrics.counterSamples(e.registry)
	e.sessions.mu.Lock()
	st.BytesIn, st.BytesOut = e.sessions.ended.in, e.sessions.ended.out
	for k, v := range e.sessions.byServer {
		st.Totals = append(st.Totals, handoverTotals{Backend: k.backend, Server: k.server, In: v.in, Out: v.out})
	}
	e.sessions.mu.Unlock()
	if err := ch.Send("state", st); err != nil {
		return err
	}
	for name, ps := range e.pools {
		entries := ps.pool.StickEntries()
		for len(entries) > 0 {
			n := min(len(entries), stickChunk)
			if err := ch.Send("stick", handoverStick{Backend: name, Entries: entries[:n]}); err != nil {
				return err
			}
			entries = entries[n:]
		}
	}
	return ch.Send("state-end", nil)
}

// moveSession hands one session over if it can move: relaying between two
// sockets, its watch for publish/play over.
func (e *Edge) moveSession(ch *handover.Channel, s *session) (bool, error) {
	s.mu.Lock()
	relay := s.relay
	ok := s.phase == phaseRelay && relay != nil && s.cutReason == "" && !s.finished && s.proto == ProtoRTMP
	// A publish the edge replicates stays too: its replicas' sessions, queues
	// and the publisher's chunk-stream state live in this process, and the new
	// one could not carry them on, so moving it would end the stream on every
	// replica (and cut the players there).
	replicated := s.repl != nil
	s.mu.Unlock()
	if !ok || replicated {
		return false, nil // not relaying, not over plain TCP, or replicated: finishes here
	}
	d, ok := any(relay).(detachable)
	if !ok {
		return false, errors.New("this build's relay cannot detach")
	}
	s.detached = make(chan struct{}, 1)
	s.handingOver.Store(true)
	clientFile, serverFile, err := d.Detach()
	if err != nil {
		s.handingOver.Store(false)
		return false, err
	}
	defer clientFile.Close()
	defer serverFile.Close()
	select { // the relay has let go of both conns
	case <-s.detached:
	case <-time.After(upgradeTimeout):
		return false, errors.New("the relay did not report its detach")
	}
	st := s.handoverState()
	err = ch.Send("session", st, clientFile, serverFile)
	if err == nil {
		var ack handoverAdopted
		if _, err = ch.Expect("adopted", time.Now().Add(upgradeTimeout), &ack); err == nil && ack.Error != "" {
			err = errors.New(ack.Error)
		}
	}
	if err != nil {
		// No answer, or a no (that process closed its copies): the session
		// goes on here, from where it stopped.
		return false, s.resumeHere(clientFile, serverFile, err)
	}
	s.handingOver.Store(false)
	s.finishMoved()
	return true, nil
}

// resumeHere restarts the relay of a session whose move failed.
func (s *session) resumeHere(clientFile, serverFile *os.File, cause error) error {
	s.handingOver.Store(false)
	err := fmt.Errorf("moving it failed (%w); it goes on here", cause)
	client, cerr := net.FileConn(clientFile)
	server, serr := net.FileConn(serverFile)
	if cerr != nil || serr != nil {
		if client != nil {
			client.Close()
		}
		if server != nil {
			server.Close()
		}
		s.finish(&upstream.RelayStats{End: "internal error: resuming after a failed hand-over"}, nil)
		return fmt.Errorf("%w, but it cannot be resumed: %v %v", err, cerr, serr)
	}
	s.mu.Lock()
	s.conn = client
	s.mu.Unlock()
	s.startRelay(client, server)
	return err
}

// finishMoved ends the session here after the new process took it: its slot
// and stick pin go (the new process holds its own), its line is a debug one.
func (s *session) finishMoved() {
	s.mu.Lock()
	if s.finished {
		s.mu.Unlock()
		return
	}
	s.finished = true
	lease := s.lease
	s.mu.Unlock()
	defer close(s.ended)
	s.stopSetup()
	lease.Release()
	s.e.sessions.remove(s)
	if s.release != nil {
		s.release()
	}
	s.e.log.Debug("session handed over", "id", s.id, "client", s.client.String())
}

func (s *session) handoverState() handoverSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := handoverSession{
		ID: s.id, Listener: s.l.cfg.Name, Proto: s.proto, Client: s.client.String(), Local: s.local.String(),
		Started: s.start, Digest: s.digest,
		App: s.connect.App, TcURL: s.connect.TcURL, FlashVer: s.connect.FlashVer, Type: s.connect.Type,
		Kind: s.kind.String(), KindReason: s.kindReason, Backend: s.backend.cfg.Name, Server: s.serverName(),
		Pick: s.pickReason, Attempts: s.attempts,
		BytesIn: s.counters.ClientToServer.Load(), BytesOut: s.counters.ServerToClient.Load(),
	}
	if s.command != nil {
		st.Command, st.Stream = s.command.Name, s.command.Stream
	}
	return st
}

// startRelay starts the relay of an adopted or resumed session.
func (s *session) startRelay(client, server net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.startRelayLocked(client, server, nil)
}

// Inheritance is what a new process received from the old one before it
// builds its edge.
type Inheritance struct {
	ch        *handover.Channel
	listeners map[string]*os.File // by configured address
	admin     *os.File
	adminAddr string
	state     handoverState
	sticks    []handoverStick
}

// ReceiveInheritance runs the first half of the new side of an upgrade:
// hello, then the sockets and the state. Pass the result in
// Options.Inherit, then call TakeSessions once Serve runs.
func ReceiveInheritance(ch *handover.Channel) (*Inheritance, error) {
	if err := ch.Send("hello", map[string]int{"pid": os.Getpid()}); err != nil {
		return nil, err
	}
	in := &Inheritance{ch: ch, listeners: map[string]*os.File{}}
	var lm handoverListeners
	files, err := ch.Expect("listeners", time.Now().Add(upgradeTimeout), &lm)
	if err != nil {
		return nil, err
	}
	want := len(lm.Addresses)
	if lm.Admin != "" {
		want++
	}
	if len(files) != want {
		handover.CloseFiles(files)
		return nil, fmt.Errorf("handover: %d sockets for %d addresses", len(files), want)
	}
	for i, addr := range lm.Addresses {
		in.listeners[addr] = files[i]
	}
	if lm.Admin != "" {
		in.admin, in.adminAddr = files[len(files)-1], lm.Admin
	}
	if _, err := ch.Expect("state", time.Now().Add(upgradeTimeout), &in.state); err != nil {
		in.close()
		return nil, err
	}
	for {
		m, err := ch.Recv(time.Now().Add(upgradeTimeout))
		if err != nil {
			in.close()
			return nil, err
		}
		if m.Kind == "state-end" {
			return in, nil
		}
		var sc handoverStick
		if m.Kind != "stick" || json.Unmarshal(m.Body, &sc) != nil {
			in.close()
			return nil, fmt.Errorf("handover: unexpected %q in the state", m.Kind)
		}
		in.sticks = append(in.sticks, sc)
	}
}

func (in *Inheritance) close() {
	for _, f := range in.listeners {
		f.Close()
	}
	if in.admin != nil {
		in.admin.Close()
	}
}

// inheritedListener returns the inherited socket for a configured address,
// or nil; each is used once.
func (in *Inheritance) listener(addr string) (net.Listener, error) {
	if in == nil {
		return nil, nil
	}
	f, ok := in.listeners[addr]
	if !ok {
		return nil, nil
	}
	delete(in.listeners, addr)
	defer f.Close()
	return net.FileListener(f)
}

func (in *Inheritance) adminListener(addr string) (net.Listener, error) {
	if in == nil || in.admin == nil || in.adminAddr != addr {
		return nil, nil
	}
	f := in.admin
	in.admin = nil
	defer f.Close()
	return net.FileListener(f)
}

// restore applies the old process's runtime changes, totals and stick
// entries to this edge, before it serves.
func (e *Edge) restore(in *Inheritance) {
	for _, sv := range in.state.Servers {
		ps := e.pools[sv.Backend]
		if ps == nil {
			continue
		}
		s := ps.pool.Server(sv.Server)
		if s == nil {
			continue
		}
		if st, err := routing.ParseState(sv.State); err == nil && st != s.State() {
			s.SetState(st)
		}
		if sv.Weight != s.Weight() {
			_ = s.SetWeight(sv.Weight)
		}
	}
	e.metrics.addCounters(in.state.Counters)
	e.sessions.mu.Lock()
	e.sessions.ended.in += in.state.BytesIn
	e.sessions.ended.out += in.state.BytesOut
	for _, t := range in.state.Totals {
		k := serverKey{t.Backend, t.Server}
		bt := e.sessions.byServer[k]
		if bt == nil {
			bt = &byteTotals{}
			e.sessions.byServer[k] = bt
		}
		bt.in += t.In
		bt.out += t.Out
	}
	e.sessions.mu.Unlock()
	for _, sc := range in.sticks {
		if ps := e.pools[sc.Backend]; ps != nil {
			ps.pool.RestoreStick(sc.Entries)
		}
	}
}

// TakeSessions runs the second half of the new side: once this edge
// accepts, it says ready and adopts the sessions the old process sends until
// it says done. It returns how many it adopted.
func (e *Edge) TakeSessions(in *Inheritance) (int, error) {
	defer in.ch.Close()
	in.close() // sockets of listeners this config does not have
	if err := in.ch.Send("ready", map[string]int{"pid": os.Getpid()}); err != nil {
		return 0, err
	}
	adopted := 0
	for {
		// The old process moves sessions one by one; a long pause means it is gone.
		m, err := in.ch.Recv(time.Now().Add(time.Minute))
		if err != nil {
			return adopted, err
		}
		switch m.Kind {
		case "done":
			return adopted, nil
		case "session":
			var hs handoverSession
			err := json.Unmarshal(m.Body, &hs)
			if err == nil {
				err = e.adopt(hs, m.Files)
			}
			handover.CloseFiles(m.Files)
			ack := handoverAdopted{ID: hs.ID}
			if err != nil {
				ack.Error = err.Error()
				e.log.Warn("upgrade: a session could not be taken over", "id", hs.ID, "err", err.Error())
			} else {
				adopted++
			}
			if err := in.ch.Send("adopted", ack); err != nil {
				return adopted, err
			}
		default:
			handover.CloseFiles(m.Files)
			return adopted, fmt.Errorf("handover: unexpected %q", m.Kind)
		}
	}
}

// adopt resumes one handed-over session.
func (e *Edge) adopt(hs handoverSession, files []*os.File) error {
	if len(files) != 2 {
		return fmt.Errorf("%d sockets, want 2", len(files))
	}
	rt := e.rt.Load()
	var l *listener
	for _, cand := range rt.order {
		if cand.cfg.Name == hs.Listener {
			l = cand
		}
	}
	if l == nil {
		return fmt.Errorf("no listener %q in this config", hs.Listener)
	}
	b := rt.backends[hs.Backend]
	if b == nil {
		return fmt.Errorf("no backend %q in this config", hs.Backend)
	}
	clientAddr, _ := netip.ParseAddrPort(hs.Client)
	localAddr, _ := netip.ParseAddrPort(hs.Local)
	lease, err := b.pool.Adopt(hs.Server, clientAddr.Addr())
	if err != nil {
		return err
	}
	client, err := net.FileConn(files[0])
	if err != nil {
		lease.Release()
		return err
	}
	server, err := net.FileConn(files[1])
	if err != nil {
		lease.Release()
		client.Close()
		return err
	}
	s := &session{
		e: e, l: l, backend: b, proto: hs.Proto, client: clientAddr, local: localAddr, start: hs.Started, conn: client,
		release: func() {}, phase: phaseRelay, ended: make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(e.base)
	s.digest = hs.Digest
	s.connect = amf0.Connect{App: hs.App, TcURL: hs.TcURL, FlashVer: hs.FlashVer, Type: hs.Type}
	if hs.Kind == routing.Publish.String() {
		s.kind = routing.Publish
	} else {
		s.kind = routing.Play
	}
	s.kindReason, s.routed = hs.KindReason, true
	s.lease, s.server, s.pickReason, s.attempts = lease, lease.Server, hs.Pick, hs.Attempts
	if hs.Command != "" {
		s.command = &amf0.StreamCommand{Name: hs.Command, Stream: hs.Stream}
	}
	s.counters.ClientToServer.Store(hs.BytesIn)
	s.counters.ServerToClient.Store(hs.BytesOut)
	e.sessions.adopt(s, hs.ID)
	s.startRelay(client, server)
	return nil
}
