package hush

import (
	"strings"
	"testing"
)

// A connection refused because the device is at the relay's connection
// cap says so, in one line, with what to do; other refusals keep their
// reason code.
func TestConnackQuotaRefusalIsExplained(t *testing.T) {
	msg := (&connackError{code: connackQuotaExceeded}).Error()
	if !strings.Contains(msg, "connections open") || !strings.Contains(msg, "close other programs") || strings.Contains(msg, "\n") {
		t.Fatalf("quota refusal reads %q", msg)
	}
	if msg := (&connackError{code: 0x87}).Error(); !strings.Contains(msg, "0x87") {
		t.Fatalf("other refusal reads %q", msg)
	}
}
