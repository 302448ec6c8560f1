//go:build linux

package netns

import (
	"testing"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

// TestMain removes the edge binary harness.BuildEdge made.
func TestMain(m *testing.M) { harness.Main(m) }
