package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	rtmp "github.com/yutopp/go-rtmp"
)

// playerChunkSize is the chunk size the Go player announces and writes with.
const playerChunkSize = 4096

// playerReadIdle ends a player whose server sends nothing for this long.
const playerReadIdle = 30 * time.Second

// Errors of the Go player.
var (
	ErrConnectRejected = errors.New("connect rejected")
	ErrPlayRejected    = errors.New("play rejected")
	ErrPlayerClosed    = errors.New("player connection closed")
)

// PlayerOptions describes a Go RTMP player. Addr and Stream are required.
type PlayerOptions struct {
	Addr     string // server (edge) "host:port"
	LocalIP  string // source IP to bind, e.g. "127.0.3.7"; empty = any
	App      string // default "live"
	Stream   string
	TcURL    string // default "rtmp://<Addr>/<App>"
	FlashVer string // default "LNX 9,0,124,2" (a player)
	// ConnectAMF3 sends connect as an AMF3 command message (type 17: one zero
	// byte, then AMF0), as Flash Player does with objectEncoding 3.
	ConnectAMF3 bool
	// Publish makes the client send publish (live) instead of play; it sends no
	// media, it only holds the publishing session open.
	Publish bool
	// Dial, when set, replaces the TCP dial (an RTMPT tunnel, for example).
	Dial func(ctx context.Context) (net.Conn, error)
}

// Player is a Go RTMP player that records the media it receives as Packets
// hashed the way ffmpeg's FLV demuxer would (so they compare with FrameMD5).
// go-rtmp's own client cannot receive media on a stream it created (the stream
// has no state handler), so the player reads with go-rtmp's ChunkStreamer and
// writes hand-built chunks.
type Player struct {
	conn net.Conn
	in   *errReader // what the chunk streamer reads; keeps the transport's error
	cs   *rtmp.ChunkStreamer
	cmds chan command // commands received, for the setup steps

	mu      sync.Mutex
	packets Packets
	bytes   int64
	err     error
	done    chan struct{}
	closing bool
	closeMu sync.Once
}

// command is one AMF0 command from the server.
type command struct {
	name string
	txID int64
	args []any
}

// Play dials, handshakes, connects, creates a stream and plays o.Stream; it
// returns once the server answered play with NetStream.Play.Start (or, with
// o.Publish, publish with NetStream.Publish.Start). ctx bounds
// the whole setup. The caller must Close the player.
func Play(ctx context.Context, o PlayerOptions) (*Player, error) {
	if o.App == "" {
		o.App = "live"
	}
	if o.TcURL == "" {
		o.TcURL = "rtmp://" + o.Addr + "/" + o.App
	}
	if o.FlashVer == "" {
		o.FlashVer = "LNX 9,0,124,2"
	}
	conn, err := dialPlayer(ctx, o)
	if err != nil {
		return nil, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(20 * time.Second)
	}
	if err := ClientHandshake(conn, deadline); err != nil {
		conn.Close()
		return nil, err
	}
	p := &Player{
		conn: conn,
		in:   &errReader{r: bufio.NewReaderSize(conn, 64<<10)},
		cmds: make(chan command, 64),
		done: make(chan struct{}),
	}
	p.cs = rtmp.NewChunkStreamer(p.in, io.Discard, nil)
	go p.readLoop()
	if err := p.setup(ctx, o); err != nil {
		p.Close()
		return nil, fmt.Errorf("play %s/%s via %s: %w", o.App, o.Stream, o.Addr, err)
	}
	return p, nil
}

// StartPlayer is Play bounded by 20 s that fails the test on error; the player
// is closed in t.Cleanup.
func StartPlayer(t testing.TB, o PlayerOptions) *Player {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := Play(ctx, o)
	if err != nil {
		t.Fatalf("start Go player (source %q): %v", o.LocalIP, err)
	}
	t.Cleanup(p.Close)
	return p
}

func dialPlayer(ctx context.Context, o PlayerOptions) (net.Conn, error) {
	if o.Dial != nil {
		c, err := o.Dial(ctx)
		if err != nil {
			return nil, fmt.Errorf("dial player transport: %w", err)
		}
		return c, nil
	}
	d := net.Dialer{}
	if o.LocalIP != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(o.LocalIP)}
	}
	c, err := d.DialContext(ctx, "tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s from %q: %w", o.Addr, o.LocalIP, err)
	}
	return c, nil
}

// setup runs connect, createStream and play, waiting for each answer.
func (p *Player) setup(ctx context.Context, o PlayerOptions) error {
	connect := ConnectCommand(playerChunkSize, o.App, o.TcURL, o.FlashVer)
	if o.ConnectAMF3 {
		connect = ConnectCommandAMF3(playerChunkSize, o.App, o.TcURL, o.FlashVer)
	}
	first := append(SetChunkSizeMsg(playerChunkSize), connect...)
	if err := p.write(ctx, first); err != nil {
		return err
	}
	res, err := p.waitResult(ctx, 1)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if res.name != "_result" {
		return fmt.Errorf("%w: %s %v", ErrConnectRejected, res.name, res.args)
	}
	if err := p.write(ctx, Command(0, playerChunkSize, "createStream", 2, nil)); err != nil {
		return err
	}
	res, err = p.waitResult(ctx, 2)
	if err != nil {
		return fmt.Errorf("createStream: %w", err)
	}
	sid, ok := res.arg(1).(float64)
	if res.name != "_result" || !ok {
		return fmt.Errorf("createStream answered %s %v", res.name, res.args)
	}
	req, started := Command(uint32(sid), playerChunkSize, "play", 0, nil, o.Stream, -1000.0), "NetStream.Play.Start"
	if o.Publish {
		req, started = Command(uint32(sid), playerChunkSize, "publish", 0, nil, o.Stream, "live"), "NetStream.Publish.Start"
	}
	if err := p.write(ctx, req); err != nil {
		return err
	}
	for {
		c, err := p.nextCommand(ctx)
		if err != nil {
			return fmt.Errorf("wait for play status: %w", err)
		}
		if c.name != "onStatus" {
			continue
		}
		info, _ := c.arg(1).(map[string]any)
		switch code, _ := info["code"].(string); code {
		case started:
			return nil
		case "NetStream.Play.Reset":
			continue
		default:
			return fmt.Errorf("%w: %v", ErrPlayRejected, info)
		}
	}
}

func (c command) arg(i int) any {
	if i < len(c.args) {
		return c.args[i]
	}
	return nil
}

func (p *Player) write(ctx context.Context, b []byte) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	_ = p.conn.SetWriteDeadline(deadline)
	defer p.conn.SetWriteDeadline(time.Time{})
	if _, err := p.conn.Write(b); err != nil {
		return fmt.Errorf("player write: %w", err)
	}
	return nil
}

func (p *Player) nextCommand(ctx context.Context) (command, error) {
	select {
	case c := <-p.cmds:
		return c, nil
	case <-p.done:
		return command{}, fmt.Errorf("%w: %v", ErrPlayerClosed, p.Err())
	case <-ctx.Done():
		return command{}, ctx.Err()
	}
}

func (p *Player) waitResult(ctx context.Context, txID int64) (command, error) {
	for {
		c, err := p.nextCommand(ctx)
		if err != nil {
			return c, err
		}
		if (c.name == "_result" || c.name == "_error") && c.txID == txID {
			return c, nil
		}
	}
}

func (p *Player) setErr(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil && !p.closing {
		p.err = err
	}
}

// Err is the error that ended the player's connection (nil while it runs or when
// it was ended by Close).
func (p *Player) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Done is closed when the player's connection has ended.
func (p *Player) Done() <-chan struct{} { return p.done }

// Packets returns a copy of the media packets received so far.
func (p *Player) Packets() Packets {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append(Packets(nil), p.packets...)
}

// MediaBytes is the number of audio and video payload bytes received so far.
func (p *Player) MediaBytes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bytes
}

// WaitPackets waits until the player has received at least n more media packets
// of each codec (h264 and aac) than it had when called, or fails after timeout
// or when the connection ends.
func (p *Player) WaitPackets(n int, timeout time.Duration) error {
	return p.Mark().Wait(n, timeout)
}

// PacketMark is a player's packet counts at one moment, taken before an event
// (a reload, a drain) to check afterwards that the player kept receiving media
// across it: a session cut by the event ends the player, a session starved
// by it stops the counts.
type PacketMark struct {
	Player       *Player
	Video, Audio int // h264 and aac packets received when the mark was taken
}

// Mark records the player's packet counts now.
func (p *Player) Mark() PacketMark {
	now := p.Packets()
	return PacketMark{Player: p, Video: now.Count("h264"), Audio: now.Count("aac")}
}

// Wait waits until the player has received at least n more packets of each
// codec than at the mark; it fails after timeout or when the connection ends.
func (m PacketMark) Wait(n int, timeout time.Duration) error {
	p := m.Player
	deadline := time.Now().Add(timeout)
	for {
		now := p.Packets()
		v, a := now.Count("h264")-m.Video, now.Count("aac")-m.Audio
		if v >= n && a >= n {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("player ended after %d h264 and %d aac of %d each: %v", v, a, n, p.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d h264 and %d aac packets of %d each within %s: %w", v, a, n, timeout, ErrNoPackets)
		}
	}
}

// MarkAll marks every player (see Mark).
func MarkAll(players []*Player) []PacketMark {
	out := make([]PacketMark, len(players))
	for i, p := range players {
		out[i] = p.Mark()
	}
	return out
}

// WaitAllGrown waits, for all marks at once, until each player received n more
// packets of each codec than at its mark (see PacketMark.Wait). The error
// names every player that did not, by its local address.
func WaitAllGrown(marks []PacketMark, n int, timeout time.Duration) error {
	errs := make([]error, len(marks))
	var wg sync.WaitGroup
	for i, m := range marks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Wait(n, timeout); err != nil {
				errs[i] = fmt.Errorf("player %s: %w", m.Player.LocalAddr(), err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// LocalAddr is the player's own address ("127.0.3.7:40000").
func (p *Player) LocalAddr() string { return p.conn.LocalAddr().String() }

// Close ends the connection and waits (up to 5 s) for the reader to stop.
func (p *Player) Close() {
	p.closeMu.Do(func() {
		p.mu.Lock()
		p.closing = true
		p.mu.Unlock()
		p.conn.Close()
		_ = p.cs.Close()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
	})
}
