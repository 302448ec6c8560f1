package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/yutopp/go-rtmp/handshake"

	"github.com/rtmp-edge/rtmp-edge/edge/amf0"
	"github.com/rtmp-edge/rtmp-edge/edge/chunk"
)

// maxRTMPProbeReply caps what the rtmp check reads from a server after the handshake before
// the connect reply must have arrived (nginx-rtmp sends about 250 bytes including its
// control messages): a server streaming garbage cannot keep a probe busy.
const maxRTMPProbeReply = 64 << 10

// errProbeReplyTooLong: the server sent maxRTMPProbeReply bytes without answering connect.
var errProbeReplyTooLong = errors.New("no connect reply within the first 64 KiB")

// ConnectResult is a media server's answer to the rtmp check's connect, kept so the edge can
// answer a client's connect in the very shape that server family would (route on the real
// publish/play: the edge answers connect itself and replays it to the chosen server later).
type ConnectResult struct {
	Command string // "_result"; a probe answered with "_error" is a failed probe
	// Properties is the reply's command object: fmsVer, capabilities, mode.
	Properties amf0.Object
	// Information is the reply's information object: level, code, description,
	// objectEncoding, and what servers add (SRS: data; Enhanced RTMP servers: fourCcList,
	// capsEx, videoFourCcInfoMap, audioFourCcInfoMap).
	Information amf0.Object
	// Reply is every byte the server sent after S2 up to the end of the reply, and the
	// complete messages that came in the same read after it (crtmpserver and SRS follow
	// _result with onBWDone at once): the control messages, their chunk streams, order and
	// header compression, which edge/command learns its answer templates from.
	Reply []byte
}

// probeRTMP dials addr, performs the simple handshake, sends connect(app) and succeeds on a
// _result with code NetConnection.Connect.Success, all before ctx ends. This catches a hung
// media server that still accepts TCP.
func probeRTMP(ctx context.Context, addr, app, proxyProtocol string) error {
	_, err := probeRTMPResult(ctx, addr, app, proxyProtocol)
	return err
}

// probeRTMPResult is probeRTMP returning the server's connect reply.
//
// The chunk stream is the edge's own (edge/chunk, edge/amf0) rather than go-rtmp's
// ChunkStreamer: it keeps the reply's raw bytes and AMF0 values as sent (go-rtmp decodes
// the reply into fixed structs and drops fields such as fourCcList), runs no goroutine, and
// has none of go-rtmp's panics on malformed input. Every read and write is under the conn's
// deadline, and reads are capped (maxRTMPProbeReply).
func probeRTMPResult(ctx context.Context, addr, app, proxyProtocol string) (ConnectResult, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return ConnectResult{}, fmt.Errorf("rtmp check: %w", err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			return ConnectResult{}, fmt.Errorf("rtmp check: set deadline: %w", err)
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	hio := newHandshakeIO(conn, 0)
	if proxyProtocol != ProxyProtocolNone {
		header, err := proxyHeader(proxyProtocol, addrPortOf(conn.LocalAddr()), addrPortOf(conn.RemoteAddr()))
		if err != nil {
			return ConnectResult{}, fmt.Errorf("rtmp check: %w", err)
		}
		_, _ = hio.Write(header) // buffered: leaves with C0+C1
	}
	if err := handshake.HandshakeWithServer(hio, hio, &handshake.Config{SkipHandshakeVerification: true}); err != nil {
		return ConnectResult{}, fmt.Errorf("rtmp check: handshake: %w", err)
	}
	if err := hio.Flush(); err != nil {
		return ConnectResult{}, fmt.Errorf("rtmp check: handshake: sending C2: %w", err)
	}
	res, err := connectAppResult(conn, conn, addr, app)
	if err != nil {
		return res, fmt.Errorf("rtmp check: connect %q: %w", app, err)
	}
	return res, nil
}

// connectApp sends connect(app) on w and reads the reply from r (at most maxRTMPProbeReply
// bytes).
func connectApp(_ context.Context, r io.Reader, w io.Writer, addr, app string) error {
	_, err := connectAppResult(r, w, addr, app)
	return err
}

// probeFourCCs is what the check's connect advertises in fourCcList (Enhanced RTMP): a
// server that supports the extension answers with its own lists and capabilities only to a
// client that advertised some, and the edge wants to learn them. Servers without it ignore
// an unknown property (nginx-rtmp, crtmpserver and SRS read the ones they know by name).
var probeFourCCs = amf0.StrictArray{"av01", "vp09", "hvc1", "avc1"}

// connectAppResult writes the AMF0 connect command (transaction 1, chunk stream 3, as Flash
// clients send it) and reads messages until the reply to transaction 1.
func connectAppResult(r io.Reader, w io.Writer, addr, app string) (ConnectResult, error) {
	payload, err := amf0.EncodeCommand("connect", 1, amf0.Object{
		{Key: "app", Value: app},
		{Key: "flashVer", Value: "rtmp-edge health check"},
		{Key: "tcUrl", Value: "rtmp://" + addr + "/" + app},
		{Key: "fourCcList", Value: probeFourCCs},
		{Key: "objectEncoding", Value: 0.0},
	})
	if err != nil {
		return ConnectResult{}, fmt.Errorf("encode: %w", err)
	}
	out := chunk.NewWriter().Append(nil, chunk.Message{CSID: 3, Type: chunk.TypeCommandAMF0, Payload: payload})
	if _, err := w.Write(out); err != nil {
		return ConnectResult{}, fmt.Errorf("send: %w", err)
	}
	return readConnectResult(r)
}

// readConnectResult reads the server's messages (applying its Set Chunk Size: nginx-rtmp
// sends one before _result) until the _result or _error of transaction 1.
func readConnectResult(r io.Reader) (ConnectResult, error) {
	var (
		raw    = make([]byte, 0, 4096)
		buf    = make([]byte, 4096)
		res    ConnectResult
		found  bool
		end    int64 // end of the last complete message from the reply on
		failed error
	)
	s := chunk.NewScanner(chunk.Limits{MaxCommand: maxRTMPProbeReply})
	emit := func(m chunk.Message) error {
		if found {
			end = s.Consumed()
			return nil
		}
		if m.Type != chunk.TypeCommandAMF0 && m.Type != chunk.TypeCommandAMF3 {
			return nil
		}
		cmd, err := amf0.ParseCommand(m.Payload, m.Type)
		if err != nil || cmd.TxID != 1 || (cmd.Name != "_result" && cmd.Name != "_error") {
			return nil // not the reply (onBWDone before it, a garbled call): the server's business
		}
		found, end = true, s.Consumed()
		res.Command = cmd.Name
		res.Properties = cmd.Object
		if len(cmd.Args) > 0 {
			switch info := cmd.Args[0].(type) {
			case amf0.Object:
				res.Information = info
			case amf0.ECMAArray:
				res.Information = amf0.Object(info)
			}
		}
		code, _ := res.Information.String("code")
		if cmd.Name == "_error" || code != "NetConnection.Connect.Success" {
			desc, _ := res.Information.String("description")
			failed = fmt.Errorf("rejected: %s %q %q", cmd.Name, code, desc)
		}
		return nil
	}
	for !found {
		if len(raw) >= maxRTMPProbeReply {
			return ConnectResult{}, errProbeReplyTooLong
		}
		n, err := r.Read(buf[:min(len(buf), maxRTMPProbeReply-len(raw))])
		raw = append(raw, buf[:n]...)
		if ferr := s.Feed(buf[:n], emit); ferr != nil {
			if found {
				break // the reply is complete; garbage after it is not the probe's concern
			}
			return ConnectResult{}, fmt.Errorf("malformed reply: %w", ferr)
		}
		if err != nil && !found {
			return ConnectResult{}, fmt.Errorf("read reply: %w", err)
		}
	}
	if failed != nil {
		return ConnectResult{}, failed
	}
	res.Reply = raw[:end]
	return res, nil
}

// addrPortOf is a TCP address in netip form (zero when it is not TCP).
func addrPortOf(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	return netip.AddrPort{}
}
