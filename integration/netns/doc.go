// Package netns is the network-namespace lab that proves rtmp-edge's
// transparent mode and PROXY protocol support against real peers
// (issue 4, "How it is checked").
//
// The lab is three namespaces made by the test itself, numbered from
// 198.18.0.0/15 only:
//
//	client  198.18.1.2/24 (+ 198.18.1.77.. as addresses a PROXY front claims), default via 198.18.1.1
//	edge    198.18.1.1/24 towards the client, 198.18.2.1/24 towards the media servers,
//	        ip_forward off, transparent set-up from lab/transparent-setup.sh
//	media   198.18.2.2, .3, .4 on one veth, default via 198.18.2.1 (three nginx-rtmp servers)
//
// Forwarding stays off in the edge namespace, so the only way from the client
// to a media server is through a proxy running in the edge namespace: a media
// server that logs 198.18.1.2 saw a connection the edge dialed transparently.
//
// TestLabTopology checks the lab on its own (no path around the edge; a
// transparent dial works only with lab/transparent-setup.sh; a stand-in
// transparent proxy and a stand-in PROXY v1 sender are seen by nginx /stat).
// TestEdgeInLab runs rtmp-edge (built by harness.BuildEdge) in the edge
// namespace and checks issue 4: `source: clientip` for RTMP and RTMPT,
// `proxy_protocol: v1` to nginx's proxy_protocol listener, `accept_proxy`
// behind PROXY v1/v2 fronts (affinity, transparent dial, logs), and
// `source: client` (the media server sees the client's own port).
//
// Everything the lab creates is removed in t.Cleanup, also on failure.
// Namespaces left behind by a killed run are removed by the next run (their
// names carry the creating process's id). The tests need root, iproute2 with
// netns support and nftables' socket expression; where namespaces cannot be
// created they skip with a message naming what is missing.
//
// Run: go test ./integration/netns/ (as root; about a minute).
package netns
