//go:build !linux

package upstream

import "syscall"

// transparentSupported is false: binding a foreign source address needs Linux IP_TRANSPARENT.
const transparentSupported = false

// transparentControl fails every dial; NewDialer rejects transparent sources before this runs.
func transparentControl(string) func(network, address string, c syscall.RawConn) error {
	return func(string, string, syscall.RawConn) error { return ErrTransparentUnsupported }
}

// CheckTransparent reports that transparent sources are unavailable on this OS.
func CheckTransparent() error { return ErrTransparentUnsupported }
