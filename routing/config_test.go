package routing

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// seedConfig is the HAProxy set-up rtmp-edge replaces (three servers, weights 10/10/8,
// maxconn 200, a 200k/20m stick table), with media03 taking uploads.
func seedConfig() PoolConfig {
	return PoolConfig{
		Name:  "media",
		Stick: StickConfig{Size: 200 * 1024, Expire: 20 * time.Minute},
		Servers: []ServerConfig{
			{Name: "media01", Address: "10.0.0.1:1935", Weight: new(10), MaxConn: 200},
			{Name: "media02", Address: "10.0.0.2:1935", Weight: new(10), MaxConn: 200},
			{Name: "media03", Address: "10.0.0.3:1935", Weight: new(8), MaxConn: 200, Upload: true},
		},
	}
}

func TestValidateAcceptsSeedAndZeroDefaults(t *testing.T) {
	cfg := seedConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("seed config: %v", err)
	}
	minimal := PoolConfig{Servers: []ServerConfig{{Name: "a", Address: "localhost:1935"}}}
	if err := minimal.Validate(); err != nil {
		t.Fatalf("minimal config: %v", err)
	}
	edges := seedConfig()
	edges.Servers[0].Weight = new(0) // HAProxy's "stuck clients only"
	edges.Servers[1].Weight = new(MaxWeight)
	edges.Servers[1].State, edges.Servers[1].Drain = "drain", true // consistent: both say drain
	edges.Servers[2].State = "maint"
	if err := edges.Validate(); err != nil {
		t.Fatalf("weight 0/256 and states: %v", err)
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*PoolConfig)
		want   []string
	}{
		{"bad balance", func(c *PoolConfig) { c.Balance = "random" },
			[]string{`balance: must be "roundrobin" or "leastconn", got "random"`}},
		{"negative stick size", func(c *PoolConfig) { c.Stick.Size = -1 }, []string{"stick.size: must be >= 0"}},
		{"negative stick expire", func(c *PoolConfig) { c.Stick.Expire = -time.Second }, []string{"stick.expire: must be >= 0"}},
		{"negative queue timeout", func(c *PoolConfig) { c.QueueTimeout = -1 }, []string{"queue_timeout: must be >= 0"}},
		{"bad classify rule", func(c *PoolConfig) { c.Classify = []Rule{{Kind: "play"}, {App: "(", Kind: "publish"}} },
			[]string{"classify[1].app: invalid regexp"}},
		{"no servers", func(c *PoolConfig) { c.Servers = nil }, []string{"servers: must list at least one server"}},
		{"missing name", func(c *PoolConfig) { c.Servers[1].Name = "" }, []string{"servers[1].name: required"}},
		{"duplicate name", func(c *PoolConfig) { c.Servers[2].Name = "media01" },
			[]string{`servers[2].name: duplicate "media01" (also servers[0])`}},
		{"missing address", func(c *PoolConfig) { c.Servers[0].Address = "" }, []string{"servers[0].address: required"}},
		{"address without port", func(c *PoolConfig) { c.Servers[0].Address = "10.0.0.1" },
			[]string{`servers[0].address: must be host:port, got "10.0.0.1"`}},
		{"address without host", func(c *PoolConfig) { c.Servers[0].Address = ":1935" }, []string{"servers[0].address: missing host"}},
		{"port zero", func(c *PoolConfig) { c.Servers[0].Address = "h:0" }, []string{"servers[0].address: port must be 1..65535"}},
		{"port too big", func(c *PoolConfig) { c.Servers[0].Address = "h:65536" }, []string{"servers[0].address: port must be 1..65535"}},
		{"port not numeric", func(c *PoolConfig) { c.Servers[0].Address = "h:rtmp" }, []string{"servers[0].address: port must be 1..65535"}},
		{"weight too big", func(c *PoolConfig) { c.Servers[2].Weight = new(257) }, []string{"servers[2].weight: must be 0..256 (0 = only clients already stuck to it), got 257"}},
		{"weight negative", func(c *PoolConfig) { c.Servers[2].Weight = new(-1) }, []string{"servers[2].weight: must be 0..256 (0 = only clients already stuck to it), got -1"}},
		{"bad state", func(c *PoolConfig) { c.Servers[0].State = "drained" },
			[]string{`servers[0].state: must be "ready", "drain" or "maint", got "drained"`}},
		{"drain contradicts state", func(c *PoolConfig) { c.Servers[0].State = "maint"; c.Servers[0].Drain = true },
			[]string{"servers[0].drain: drain: true contradicts state: maint"}},
		{"maxconn negative", func(c *PoolConfig) { c.Servers[1].MaxConn = -5 }, []string{"servers[1].maxconn: must be >= 0"}},
		{"every error is reported", func(c *PoolConfig) {
			c.Balance = "x"
			c.Servers[0].Weight = new(999)
			c.Servers[1].Address = "nope"
		}, []string{"balance:", "servers[0].weight:", "servers[1].address:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := seedConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			if err == nil {
				t.Fatal("Validate succeeded, want an error")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error\n%v\ndoes not contain %q", err, want)
				}
			}
			if got := len(flattenJoined(err)); got != len(tt.want) {
				t.Errorf("got %d errors, want %d:\n%v", got, len(tt.want), err)
			}
			for _, e := range flattenJoined(err) {
				var fe *FieldError
				if !errors.As(e, &fe) {
					t.Errorf("error %q is not a *FieldError", e)
				}
			}
			if _, perr := NewPool(cfg); perr == nil {
				t.Error("NewPool accepted a config that Validate rejects")
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	cfg := PoolConfig{
		Stick:   StickConfig{Size: 10},
		Servers: []ServerConfig{{Name: "a", Address: "h:1"}, {Name: "b", Address: "h:2", Weight: new(5)}, {Name: "c", Address: "h:3", Weight: new(0), Drain: true}},
	}
	got := cfg.WithDefaults()
	if got.Name != "default" || got.Balance != BalanceRoundRobin || got.QueueTimeout != DefaultQueueTimeout ||
		got.Stick.Expire != DefaultStickExpire || *got.Servers[0].Weight != 1 || *got.Servers[1].Weight != 5 ||
		*got.Servers[2].Weight != 0 || got.Servers[0].State != "ready" || got.Servers[2].State != "drain" {
		t.Errorf("WithDefaults = %+v", got)
	}
	*got.Servers[1].Weight = 7
	if cfg.Servers[0].Weight != nil || *cfg.Servers[1].Weight != 5 {
		t.Error("WithDefaults modified the original servers")
	}
	noStick := PoolConfig{Servers: cfg.Servers}.WithDefaults()
	if noStick.Stick.Expire != 0 {
		t.Errorf("expire defaulted with affinity off: %v", noStick.Stick.Expire)
	}
}

func TestPrefixFieldErrors(t *testing.T) {
	cfg := seedConfig()
	cfg.Balance = "x"
	cfg.Servers[2].Weight = new(300)
	err := PrefixFieldErrors("pools[1]", cfg.Validate())
	want := []string{"pools[1].balance: ", "pools[1].servers[2].weight: must be 0..256 (0 = only clients already stuck to it), got 300"}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("prefixed error\n%v\nlacks %q", err, w)
		}
	}
	if got := PrefixFieldErrors("p", &FieldError{Path: "[3].x", Err: errors.New("bad")}); got.Error() != "p[3].x: bad" {
		t.Errorf("index path: %q", got)
	}
	if got := PrefixFieldErrors("p", errors.New("plain")); got.Error() != "p: plain" {
		t.Errorf("plain error: %q", got)
	}
	if PrefixFieldErrors("p", nil) != nil {
		t.Error("nil did not stay nil")
	}
}
