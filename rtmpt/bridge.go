package rtmpt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
)

// Bridge lets a TCP-only RTMP client (go-rtmp's, a load generator) use an
// RTMPT tunnel: it listens on 127.0.0.1:0 and pipes every accepted connection
// through its own Dial(ctx, addr, opts) tunnel. stop closes the listener and
// every bridged connection and waits for their goroutines.
func Bridge(ctx context.Context, addr string, opts ClientOptions) (listenAddr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("rtmpt bridge listen: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					slog.Warn("rtmpt bridge accept", "err", err)
				}
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				bridgeOne(ctx, c, addr, opts)
			}()
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			_ = ln.Close()
			wg.Wait()
		})
	}
	return ln.Addr().String(), stop, nil
}

// bridgeOne pipes one local connection through a new tunnel until either
// side ends or ctx is cancelled.
func bridgeOne(ctx context.Context, local net.Conn, addr string, opts ClientOptions) {
	defer local.Close()
	defer func() {
		if r := recover(); r != nil {
			slog.Error("rtmpt bridge panic", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	tunnel, err := Dial(ctx, addr, opts)
	if err != nil {
		slog.Warn("rtmpt bridge dial", "addr", addr, "err", err)
		return
	}
	defer tunnel.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		defer func() { done <- struct{}{} }()
		_, _ = io.Copy(dst, src)
	}
	go pipe(tunnel, local)
	go pipe(local, tunnel)
	running := 2
	select {
	case <-done:
		running--
	case <-ctx.Done():
	}
	// Closing both ends unblocks the other copier.
	_ = local.Close()
	_ = tunnel.Close()
	for ; running > 0; running-- {
		<-done
	}
}
