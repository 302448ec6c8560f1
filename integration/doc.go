// Package integration holds rtmp-edge's end-to-end tests against real peers:
// nginx with the RTMP module as media servers (media03 takes the uploads and
// pushes them to media01 and media02), ffmpeg and rtmpdump as publishers and
// players, and the harness's Go player for distinct 127.x client addresses.
//
// Run: go test -count=1 ./integration/...   (add -race -v as needed)
//
// The tests build ./cmd/rtmp-edge once per test binary. A missing ffmpeg,
// rtmpdump or nginx-rtmp is installed through integration/peers, and a test
// fails (never skips) when that is impossible. Traffic stays on 127.0.0.0/8.
package integration
