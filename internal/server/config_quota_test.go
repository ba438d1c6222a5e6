package server

import (
	"os"
	"path/filepath"
	"testing"
)

// The sender share and account budget settings read from the file and
// the environment, and a share outside (0, 1] is refused.
func TestConfigSenderLimits(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hush.toml")
	os.WriteFile(p, []byte("mailbox_sender_share = 0.5\naccount_max_count = 7\n"), 0o600)
	c := Defaults()
	if err := c.LoadFile(p); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HUSH_SERVER_ACCOUNT_MAX_BYTES": "4096", "HUSH_SERVER_MAILBOX_SENDER_SHARE": "0.1"}
	if err := c.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.MailboxSenderShare != 0.1 || c.AccountMaxCount != 7 || c.AccountMaxBytes != 4096 {
		t.Fatalf("merged config: share %v, count %d, bytes %d", c.MailboxSenderShare, c.AccountMaxCount, c.AccountMaxBytes)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []float64{-0.1, 1.5} {
		c.MailboxSenderShare = bad
		if err := c.Validate(); err == nil {
			t.Errorf("share %v accepted", bad)
		}
	}
	if err := c.LoadEnv(func(k string) string {
		if k == "HUSH_SERVER_MAILBOX_SENDER_SHARE" {
			return "a quarter"
		}
		return ""
	}); err == nil {
		t.Fatal("a share that is not a number was accepted")
	}
}
