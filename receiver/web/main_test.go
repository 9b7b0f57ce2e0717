package web

import (
	"os"
	"testing"
)

// TestMain stops the PostgreSQL the burst benchmark may have started.
func TestMain(m *testing.M) {
	code := m.Run()
	if pgSrv != nil {
		pgSrv.Stop()
	}
	os.Exit(code)
}
