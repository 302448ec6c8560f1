// Package handover is the channel between a running edge and the new binary
// it starts on an upgrade: a SOCK_SEQPACKET socket pair over which the old
// process passes its listening sockets, its state and its relaying sessions
// (each message JSON, with the descriptors it carries attached by
// SCM_RIGHTS), and the new one says when it is ready and what it took.
//
// A seqpacket socket keeps message boundaries and delivers a message's
// descriptors with it, so the framing is one message per sendmsg.
package handover

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

// EnvFD names the environment variable that tells a new process which of its
// descriptors is the handover channel.
const EnvFD = "RTMP_EDGE_HANDOVER_FD"

// MaxMessage bounds one message: the receiver's buffer. Senders split what
// could be larger (stick tables) into several messages.
const MaxMessage = 1 << 20

// maxFiles bounds the descriptors one message may carry.
const maxFiles = 64

// Channel is one end of the handover socket.
type Channel struct {
	c *net.UnixConn
}

// Message is one received message.
type Message struct {
	Kind  string
	Body  json.RawMessage
	Files []*os.File
}

// envelope is what goes over the wire.
type envelope struct {
	Kind string          `json:"kind"`
	Body json.RawMessage `json:"body,omitempty"`
}

// Pair makes the socket pair: the old process keeps the Channel, the child
// end goes to the new process (exec.Cmd.ExtraFiles) and is closed here after
// the start.
func Pair() (*Channel, *os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("handover socketpair: %w", err)
	}
	mine := os.NewFile(uintptr(fds[0]), "handover")
	child := os.NewFile(uintptr(fds[1]), "handover-child")
	ch, err := fromFile(mine)
	if err != nil {
		child.Close()
		return nil, nil, err
	}
	return ch, child, nil
}

// FromEnv returns the channel named by EnvFD, or nil when the variable is
// not set (a normal start). The variable is unset, so that a later upgrade
// of this process does not pass it on by accident.
func FromEnv() (*Channel, error) {
	v, ok := os.LookupEnv(EnvFD)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(EnvFD)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q is not a descriptor number", EnvFD, v)
	}
	syscall.CloseOnExec(fd)
	return fromFile(os.NewFile(uintptr(fd), "handover"))
}

// FromFile opens a channel on an end of Pair (FromEnv does it for the
// descriptor a new process inherits).
func FromFile(f *os.File) (*Channel, error) { return fromFile(f) }

func fromFile(f *os.File) (*Channel, error) {
	defer f.Close() // FileConn dups it
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("handover channel: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, errors.New("handover channel is not a unix socket")
	}
	return &Channel{c: uc}, nil
}

// Send writes one message with body (JSON) and files attached.
func (ch *Channel) Send(kind string, body any, files ...*os.File) error {
	if len(files) > maxFiles {
		return fmt.Errorf("handover %s: %d descriptors, at most %d", kind, len(files), maxFiles)
	}
	env := envelope{Kind: kind}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("handover %s: %w", kind, err)
		}
		env.Body = b
	}
	data, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("handover %s: %w", kind, err)
	}
	if len(data) > MaxMessage {
		return fmt.Errorf("handover %s: %d bytes, at most %d", kind, len(data), MaxMessage)
	}
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			// Not f.Fd(): it puts the descriptor in blocking mode, and that
			// flag is shared with the socket it was duplicated from, whose
			// accept loop would then block in the kernel, out of Go's poller.
			rc, err := f.SyscallConn()
			if err != nil {
				return fmt.Errorf("handover %s: %w", kind, err)
			}
			if err := rc.Control(func(fd uintptr) { fds[i] = int(fd) }); err != nil {
				return fmt.Errorf("handover %s: %w", kind, err)
			}
		}
		oob = syscall.UnixRights(fds...)
	}
	_ = ch.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := ch.c.WriteMsgUnix(data, oob, nil); err != nil {
		return fmt.Errorf("handover %s: %w", kind, err)
	}
	return nil
}

// Recv reads the next message, waiting until deadline (zero: no limit).
// Received descriptors are close-on-exec and belong to the caller.
func (ch *Channel) Recv(deadline time.Time) (Message, error) {
	_ = ch.c.SetReadDeadline(deadline)
	buf := make([]byte, MaxMessage)
	oob := make([]byte, syscall.CmsgSpace(maxFiles*4))
	n, oobn, flags, _, err := ch.c.ReadMsgUnix(buf, oob)
	if err != nil {
		return Message{}, fmt.Errorf("handover: %w", err)
	}
	files, ferr := parseRights(oob[:oobn])
	if flags&(syscall.MSG_TRUNC|syscall.MSG_CTRUNC) != 0 {
		closeAll(files)
		return Message{}, errors.New("handover: message or its descriptors truncated")
	}
	if ferr != nil {
		closeAll(files)
		return Message{}, ferr
	}
	if n == 0 {
		closeAll(files)
		return Message{}, fmt.Errorf("handover: %w", errClosed)
	}
	var env envelope
	if err := json.Unmarshal(buf[:n], &env); err != nil {
		closeAll(files)
		return Message{}, fmt.Errorf("handover: bad message: %w", err)
	}
	return Message{Kind: env.Kind, Body: env.Body, Files: files}, nil
}

var errClosed = errors.New("the other process closed the channel")

// Expect reads the next message and checks its kind; with body non-nil the
// message body is decoded into it.
func (ch *Channel) Expect(kind string, deadline time.Time, body any) ([]*os.File, error) {
	m, err := ch.Recv(deadline)
	if err != nil {
		return nil, err
	}
	if m.Kind != kind {
		closeAll(m.Files)
		return nil, fmt.Errorf("handover: got %q, want %q", m.Kind, kind)
	}
	if body != nil && m.Body != nil {
		if err := json.Unmarshal(m.Body, body); err != nil {
			closeAll(m.Files)
			return nil, fmt.Errorf("handover %s: %w", kind, err)
		}
	}
	return m.Files, nil
}

// Close closes the channel.
func (ch *Channel) Close() error { return ch.c.Close() }

func parseRights(oob []byte) ([]*os.File, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("handover: control message: %w", err)
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := syscall.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			syscall.CloseOnExec(fd)
			files = append(files, os.NewFile(uintptr(fd), "handover-fd"))
		}
	}
	return files, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// CloseFiles closes received descriptors the caller does not keep.
func CloseFiles(files []*os.File) { closeAll(files) }
