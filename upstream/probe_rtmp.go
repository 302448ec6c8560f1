package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	rtmp "github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/handshake"
	"github.com/yutopp/go-rtmp/message"
)

// maxRTMPProbeReply caps what the rtmp check reads from a server after the handshake before
// the connect reply must have arrived (nginx-rtmp sends about 100 bytes of control messages
// first): a server streaming garbage cannot keep a probe busy.
const maxRTMPProbeReply = 64 << 10

// errProbeReplyTooLong: the server sent maxRTMPProbeReply bytes without answering connect.
var errProbeReplyTooLong = errors.New("no connect reply within the first 64 KiB")

// probeRTMP dials addr, performs the simple handshake, sends connect(app) and succeeds on a
// _result with code NetConnection.Connect.Success, all before ctx ends. This catches a hung
// media server that still accepts TCP.
//
// It drives go-rtmp's ChunkStreamer on its own conn instead of rtmp.Dial + ClientConn.Connect:
// ClientConn.Connect waits for the reply without any timeout and stays blocked even after the
// conn is closed, which would leak one goroutine per probe of a hung server. Here every read
// and write is under the conn's deadline, and reads are capped (maxRTMPProbeReply); the
// ChunkStreamer's defects (reference/go-rtmp.md: Ack at ~1 GB, panics on zero-length
// messages) cannot trigger below the cap or are recovered by the caller.
func probeRTMP(ctx context.Context, addr, app, proxyProtocol string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("rtmp check: %w", err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			return fmt.Errorf("rtmp check: set deadline: %w", err)
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	hio := newHandshakeIO(conn)
	if proxyProtocol != ProxyProtocolNone {
		header, err := proxyHeader(proxyProtocol, addrPortOf(conn.LocalAddr()), addrPortOf(conn.RemoteAddr()))
		if err != nil {
			return fmt.Errorf("rtmp check: %w", err)
		}
		_, _ = hio.Write(header) // buffered: leaves with C0+C1
	}
	if err := handshake.HandshakeWithServer(hio, hio, &handshake.Config{SkipHandshakeVerification: true}); err != nil {
		return fmt.Errorf("rtmp check: handshake: %w", err)
	}
	if err := hio.Flush(); err != nil {
		return fmt.Errorf("rtmp check: handshake: sending C2: %w", err)
	}
	if err := connectApp(ctx, conn, conn, addr, app); err != nil {
		return fmt.Errorf("rtmp check: connect %q: %w", app, err)
	}
	return nil
}

// connectApp sends connect(app) on w and reads the reply from r (at most maxRTMPProbeReply
// bytes). It recovers go-rtmp's panics on malformed input into errors.
func connectApp(ctx context.Context, r io.Reader, w io.Writer, addr, app string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed reply: go-rtmp panicked: %v", p)
		}
	}()
	limited := &io.LimitedReader{R: r, N: maxRTMPProbeReply}
	streamer := rtmp.NewChunkStreamer(limited, w, nil)
	defer streamer.Close()

	if err := writeConnect(ctx, streamer, addr, app); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if err := awaitConnectResult(streamer); err != nil {
		if limited.N <= 0 {
			return errProbeReplyTooLong
		}
		return err
	}
	return nil
}

// writeConnect queues the AMF0 connect command (transaction 1) on chunk stream 3, as Flash
// clients and go-rtmp's own client do.
func writeConnect(ctx context.Context, streamer *rtmp.ChunkStreamer, addr, app string) error {
	body := new(bytes.Buffer)
	enc := message.NewAMFEncoder(body, message.EncodingTypeAMF0)
	connect := &message.NetConnectionConnect{Command: message.NetConnectionConnectCommand{
		App:      app,
		FlashVer: "rtmp-edge health check",
		TCURL:    "rtmp://" + addr + "/" + app,
	}}
	if err := message.EncodeBodyAnyValues(enc, connect); err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	return streamer.Write(ctx, 3, 0, &rtmp.ChunkMessage{Message: &message.CommandMessage{
		CommandName:   "connect",
		TransactionID: 1,
		Encoding:      message.EncodingTypeAMF0,
		Body:          body,
	}})
}

// awaitConnectResult reads messages until the reply to transaction 1, applying the server's
// Set Chunk Size on the way (nginx-rtmp sends one before _result).
func awaitConnectResult(streamer *rtmp.ChunkStreamer) error {
	for {
		var cmsg rtmp.ChunkMessage
		if _, _, err := streamer.Read(&cmsg); err != nil {
			return fmt.Errorf("read reply: %w", err)
		}
		switch m := cmsg.Message.(type) {
		case *message.SetChunkSize:
			if err := streamer.PeerState().SetChunkSize(m.ChunkSize); err != nil {
				return fmt.Errorf("server chunk size: %w", err)
			}
		case *message.CommandMessage:
			if m.TransactionID != 1 || (m.CommandName != "_result" && m.CommandName != "_error") {
				continue
			}
			var value message.AMFConvertible
			if err := message.DecodeBodyConnectResult(m.Body, message.NewAMFDecoder(m.Body, m.Encoding), &value); err != nil {
				return fmt.Errorf("decode %s: %w", m.CommandName, err)
			}
			result, ok := value.(*message.NetConnectionConnectResult)
			if !ok {
				return fmt.Errorf("decode %s: unexpected %T", m.CommandName, value)
			}
			if m.CommandName == "_error" || result.Information.Code != message.NetConnectionConnectCodeSuccess {
				return fmt.Errorf("rejected: %s %q %q", m.CommandName, result.Information.Code, result.Information.Description)
			}
			return nil
		}
	}
}

// addrPortOf is a TCP address in netip form (zero when it is not TCP).
func addrPortOf(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	return netip.AddrPort{}
}
