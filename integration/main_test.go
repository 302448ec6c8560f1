package integration

import (
	"testing"

	"github.com/rtmp-edge/rtmp-edge/integration/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }
