// Package lab holds the docker-compose lab of rtmp-edge (docker-compose.yml at
// the top of the repository; the README's section "The docker-compose lab"):
// the edge and crtmpserver images, their configurations and start scripts, the
// client check, and transparent-setup.sh, the
// nftables and policy-routing set-up of transparent mode that both the edge
// container and the network-namespace lab in integration/ run.
//
// There is no Go code to import here: the package exists for its tests, which
// check what CI can without running containers — the compose file parses, the
// crtmpserver Lua configurations parse, the edge configuration passes
// `rtmp-edge -check`, the files agree on addresses and paths, and
// transparent-setup.sh really sets up (and takes down) a network namespace in
// which a transparent dial then works.
package lab
