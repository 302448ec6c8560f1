package upstream

// RelayConfig.ClientTee: the edge replicates a publisher's stream to further
// media servers (edge/replicate) from the very bytes the relay writes to the
// publisher's own server.
//
// A teed direction is copied through user memory (read, write, then the
// tee) on both relay paths instead of splicing its bursts. The tee needs the
// bytes in user memory anyway (the replication keeps its own copy), so the
// zero-copy alternative, splice into a pipe, tee(2) into a second pipe and
// read that back, saves the copy of the write only, for three system calls
// per pipe instead of two per 16 KiB, and it adds a failure the plain path
// does not have: a tee(2) that fails leaves bytes in the pipe that the server
// will get and the tee never sees, and the tee must see them all (it follows
// the chunk stream) while the publisher's session must not fail for it.
// BenchmarkRelayTee measures the difference; a publisher sends a few Mbit/s,
// where it is a fraction of a percent of a core. Only the client→server
// direction is teed: the server→client one keeps its splice.
//
// The tee is called after each write with exactly the bytes the server
// accepted, so it sees what the server got, in order, nothing more.
