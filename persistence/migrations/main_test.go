package migrations_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every Store and connection a test opens is closed by its cleanup;
// nothing may linger.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
