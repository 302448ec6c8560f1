package edge

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rtmp-edge/rtmp-edge/edge/replicate"
)

// ReplicateConfig is a backend's replicate key: each publish of the backend
// is also published, by the edge itself, to the other servers it names
// (replicate.go). Off when the key is absent.
type ReplicateConfig struct {
	// To is "all" (every server of the backend but the publish's own) or a
	// list of server names. Required.
	To ReplicateTo `yaml:"to"`
	// Buffer is what one replica may have queued (bytes, or a size such as
	// "4MiB") before it is dropped and rejoins from a later keyframe. It also
	// bounds the publish's intake. Default 4 MiB.
	Buffer ByteSize `yaml:"buffer"`
	// MaxLag drops a replica whose oldest queued message waited this long.
	// Default 5s.
	MaxLag time.Duration `yaml:"max_lag"`
}

// Bounds of ReplicateConfig.Buffer: below the minimum a keyframe of a
// common stream would not fit, and a replica is dropped at every keyframe
// larger than the buffer (it rejoins at the next one that fits); the
// maximum keeps a typo from costing gigabytes per replica.
const (
	minReplicateBuffer = 256 << 10
	maxReplicateBuffer = 1 << 30
)

// replicateConfig is what a Publish is started with.
func (c *ReplicateConfig) replicateConfig() replicate.Config {
	return replicate.Config{Buffer: int(c.Buffer), MaxLag: c.MaxLag}
}

// targets are the servers a publish routed to origin replicates to, among
// the backend's servers (config order).
func (c *ReplicateConfig) targets(servers []string, origin string) []string {
	var out []string
	for _, s := range servers {
		if s != origin && (c.To.all || slices.Contains(c.To.names, s)) {
			out = append(out, s)
		}
	}
	return out
}

func (c *ReplicateConfig) validate(b *BackendConfig) []error {
	var errs []error
	add := func(field string, err error) { errs = append(errs, &FieldError{Path: "replicate" + field, Err: err}) }
	if !b.routesOnCommand() {
		add("", errors.New("needs route: command: the edge replicates the exact publish, which it knows before routing only in that mode (this backend routes at connect)"))
	}
	servers := map[string]bool{}
	for _, s := range b.Servers {
		servers[s.Name] = true
	}
	switch {
	case !c.To.set:
		add(".to", errors.New("is required: all, or a list of the backend's server names"))
	case !c.To.all && len(c.To.names) == 0:
		add(".to", errors.New("lists no server: name at least one, or say all"))
	}
	seen := map[string]bool{}
	for i, name := range c.To.names {
		switch {
		case !servers[name]:
			add(fmt.Sprintf(".to[%d]", i), fmt.Errorf("names server %q, which is not in this backend", name))
		case seen[name]:
			add(fmt.Sprintf(".to[%d]", i), fmt.Errorf("names server %q twice", name))
		}
		seen[name] = true
	}
	if c.Buffer != 0 && (c.Buffer < minReplicateBuffer || c.Buffer > maxReplicateBuffer) {
		add(".buffer", fmt.Errorf("must be between 256KiB and 1GiB, got %d bytes", int64(c.Buffer)))
	}
	if c.MaxLag < 0 {
		add(".max_lag", fmt.Errorf("must not be negative, got %s", c.MaxLag))
	}
	return errs
}

// ReplicateTo is replicate.to: the word all, or a list of server names.
type ReplicateTo struct {
	set   bool
	all   bool
	names []string
}

// ReplicateToAll and ReplicateToNames build a ReplicateTo (programs and
// tests that embed the edge).
func ReplicateToAll() ReplicateTo { return ReplicateTo{set: true, all: true} }

func ReplicateToNames(names ...string) ReplicateTo {
	return ReplicateTo{set: true, names: slices.Clone(names)}
}

// All reports whether every other server is a target; Names lists them otherwise.
func (t ReplicateTo) All() bool       { return t.all }
func (t ReplicateTo) Names() []string { return slices.Clone(t.names) }

func (t ReplicateTo) String() string {
	if t.all {
		return "all"
	}
	return "[" + strings.Join(t.names, ", ") + "]"
}

// UnmarshalYAML reads "all" or a list of names.
func (t *ReplicateTo) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value != "all" {
			return fmt.Errorf("must be all or a list of server names such as [media01, media02], got %q", n.Value)
		}
		*t = ReplicateToAll()
		return nil
	case yaml.SequenceNode:
		names := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode || item.Value == "" {
				return fmt.Errorf("line %d: each entry must be a server name", item.Line)
			}
			names = append(names, item.Value)
		}
		*t = ReplicateToNames(names...)
		return nil
	}
	return errors.New("must be all or a list of server names such as [media01, media02]")
}

// ByteSize is a size in bytes, written as a whole number or with a unit:
// KiB, MiB, GiB (powers of 1024).
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// ParseByteSize reads "4MiB", "512KiB", "65536".
func ParseByteSize(s string) (ByteSize, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size: use a whole number of bytes or e.g. 512KiB, 4MiB, 1GiB", s)
	}
	return ByteSize(n * mult), nil
}

// UnmarshalYAML reads a size (see ByteSize).
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("must be a size such as 4MiB")
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// routesOnCommand reports whether the backend routes on the real
// publish/play (its route, with the default resolved).
func (b *BackendConfig) routesOnCommand() bool { return b.routeOnCommand() }
