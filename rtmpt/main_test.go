package rtmpt

import (
	"io"
	"log/slog"
	"os"
	"testing"
)

// TestMain silences the servers' logs (sessions opening and ending by the
// thousand under the fuzzers) unless RTMPT_TEST_LOG is set.
func TestMain(m *testing.M) {
	if os.Getenv("RTMPT_TEST_LOG") == "" {
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	os.Exit(m.Run())
}
