// Package harness runs real peers for rtmp-edge's end-to-end tests: the edge binary
// itself, nginx with the RTMP module as media servers, ffmpeg and rtmpdump as clients,
// and a small Go RTMP player that can bind any 127.x source address.
//
// Every process it starts is tied to the test that started it: it is stopped in
// t.Cleanup (SIGTERM to its process group, then SIGKILL), also when the test fails,
// and every wait is bounded. Traffic goes only to 127.0.0.0/8.
//
// Tools that a test needs and that are missing make the test FAIL, not skip: the
// project's test command installs them, so a missing tool is a broken environment.
package harness
