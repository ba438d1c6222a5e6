package hush

import (
	"os"
	"testing"

	"github.com/hush-chat/hush/internal/localstore"
)

// TestMain makes the profiles this package's tests create cheap to unlock:
// Argon2id at its defaults (3 passes over 12 MiB) costs tens of
// milliseconds per Create and Open, hundreds under the race detector, and
// these tests make hundreds of profiles. What the parameters protect is
// tested in internal/localstore with the defaults.
func TestMain(m *testing.M) {
	localstore.DefaultParams = localstore.Params{Time: 1, Memory: 64, Threads: 1}
	os.Exit(m.Run())
}
