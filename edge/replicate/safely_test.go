package replicate

import (
	"strings"
	"testing"
)

// TestSafelyTurnsPanicIntoError: a panic met while parsing a publisher's or
// a replica's bytes becomes an error for that publish, not a crash.
func TestSafelyTurnsPanicIntoError(t *testing.T) {
	err := safely(func() error { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "internal error: boom") {
		t.Fatalf("safely(panic) = %v, want an internal error", err)
	}
	if err := safely(func() error { return nil }); err != nil {
		t.Fatalf("safely(nil) = %v", err)
	}
}
