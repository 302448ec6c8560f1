package chunk

import (
	"encoding/binary"
	"errors"
)

// cmdName reads the AMF0 string that starts a command payload (the command
// name), without depending on edge/amf0.
func cmdName(p []byte) string {
	if len(p) < 3 || p[0] != 0x02 {
		return ""
	}
	n := int(binary.BigEndian.Uint16(p[1:]))
	if 3+n > len(p) {
		return ""
	}
	return string(p[3 : 3+n])
}

var errStop = errors.New("stop")
