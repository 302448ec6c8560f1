package edge

import (
	"os"

	"github.com/rtmp-edge/rtmp-edge/edge/handover"
)

// handoverFromFile opens the child end of a pair in this process, as the new
// process does from its inherited descriptor.
func handoverFromFile(f *os.File) (*handover.Channel, error) {
	return handover.FromFile(f)
}
