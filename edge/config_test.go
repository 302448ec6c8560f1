package edge

import (
	"strings"
	"testing"

	"github.com/rtmp-edge/rtmp-edge/routing"
)

// Port 0 is for programs (the kernel picks, Edge.Addr tells): Validate takes
// it, and two of them do not clash; a file cannot learn the port, so
// ValidateFile refuses it.
func TestValidatePortZero(t *testing.T) {
	cfg := Config{
		Admin: AdminConfig{Address: "127.0.0.1:0"},
		Listeners: []ListenerConfig{
			{Name: "a", Address: "127.0.0.1:0", Backend: "m"},
			{Name: "b", Address: ":0", Backend: "m"},
		},
		Backends: []BackendConfig{{PoolConfig: routing.PoolConfig{Name: "m", Servers: []routing.ServerConfig{{Name: "s", Address: "127.0.0.1:1"}}}}},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	err := cfg.ValidateFile()
	if err == nil {
		t.Fatal("ValidateFile accepted port 0")
	}
	for _, path := range []string{"admin.address", "listeners[0].address", "listeners[1].address"} {
		if !strings.Contains(err.Error(), path+": port 0 would listen on a random port") {
			t.Errorf("no port-0 error for %s:\n%v", path, err)
		}
	}
}

func TestListenAddressesClash(t *testing.T) {
	cases := []struct {
		a, b  string
		clash bool
	}{
		{":1935", "0.0.0.0:1935", true},
		{":1935", "127.0.0.1:1935", true},
		{"[::]:1935", "127.0.0.1:1935", true},
		{"127.0.0.1:1935", "127.0.0.1:1935", true},
		{"[::ffff:127.0.0.1]:1935", "127.0.0.1:1935", true},
		{"LOCALHOST:1935", "localhost:1935", true},
		{"127.0.0.1:1935", "127.0.0.2:1935", false},
		{"[::1]:1935", "127.0.0.1:1935", false},
		{":1935", ":1936", false},
		{":0", ":0", false},
	}
	for _, tc := range cases {
		ha, pa, err := checkListenAddress(tc.a, false)
		if err != nil {
			t.Fatal(err)
		}
		hb, pb, err := checkListenAddress(tc.b, false)
		if err != nil {
			t.Fatal(err)
		}
		a, b := boundAddr{"a", tc.a, ha, pa}, boundAddr{"b", tc.b, hb, pb}
		if got := a.clashes(b); got != tc.clash || b.clashes(a) != tc.clash {
			t.Errorf("%s vs %s: clash %v, want %v", tc.a, tc.b, got, tc.clash)
		}
	}
}

func TestAdminWithoutTokenMustBeLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:9935": true, "127.9.9.9:9935": true, "[::1]:9935": true, "localhost:9935": true,
		":9935": false, "0.0.0.0:9935": false, "[::]:9935": false, "10.0.0.1:9935": false, "edge.example:9935": false,
	} {
		cfg := Config{
			Admin:     AdminConfig{Address: addr},
			Listeners: []ListenerConfig{{Name: "a", Address: ":1935", Backend: "m"}},
			Backends:  []BackendConfig{{PoolConfig: routing.PoolConfig{Name: "m", Servers: []routing.ServerConfig{{Name: "s", Address: "127.0.0.1:1"}}}}},
		}
		err := cfg.ValidateFile()
		if (err == nil) != ok {
			t.Errorf("admin %s without a token: err = %v, want ok=%v", addr, err, ok)
		}
		cfg.Admin.Token = "t0ken"
		if err := cfg.ValidateFile(); err != nil {
			t.Errorf("admin %s with a token: %v", addr, err)
		}
	}
}
