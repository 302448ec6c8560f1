package routing

import (
	"fmt"
	"net/netip"
)

// StickEntry is one affinity entry, for handing the table to a new process
// on an upgrade.
type StickEntry struct {
	Client netip.Addr `json:"client"`
	Server string     `json:"server"`
}

// StickEntries lists the affinity entries: clients with live sessions and
// idle ones not yet expired (oldest idle first, so that a receiver with a
// smaller table keeps the newest).
func (p *Pool) StickEntries() []StickEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.stick
	if t == nil {
		return nil
	}
	var out []StickEntry
	for _, c := range t.idle.Keys() {
		if _, live := t.pinned[c]; live {
			continue
		}
		if s, ok := t.idle.Peek(c); ok {
			out = append(out, StickEntry{Client: c, Server: s.Name})
		}
	}
	for c, pn := range t.pinned {
		if pn.server != nil {
			out = append(out, StickEntry{Client: c, Server: pn.server.Name})
		}
	}
	return out
}

// RestoreStick adds entries as idle ones (their age restarts: the table
// cannot be told an entry's original time) and returns how many it took;
// entries naming a server this pool does not have are skipped.
func (p *Pool) RestoreStick(entries []StickEntry) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.stick
	if t == nil {
		return 0
	}
	view := p.view.Load()
	n := 0
	for _, e := range entries {
		s := view.byName[e.Server]
		c := stickKey(e.Client)
		if s == nil || !c.IsValid() {
			continue
		}
		if _, live := t.pinned[c]; live {
			continue
		}
		t.idle.Add(c, s)
		n++
	}
	return n
}

// Adopt takes a slot on the named server for a session that is already
// running there (handed over by the process it started in), confirmed at
// once: the client sticks to the server while the session lives. maxconn is
// not enforced, the session exists either way; it is counted like any other.
func (p *Pool) Adopt(server string, client netip.Addr) (*Lease, error) {
	s := p.Server(server)
	if s == nil {
		return nil, fmt.Errorf("pool %q: adopt: no server %q", p.name, server)
	}
	s.active.Add(1)
	l := p.newLease(s, "handed over", stickKey(client))
	l.Confirm()
	return l, nil
}
