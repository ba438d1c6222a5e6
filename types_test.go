package hush

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// The safety number both sides compute matches what the other reads out
// (in any spacing) and what it shows as a QR code; another does not.
func TestSafetyNumberCompare(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob", "carol")
	ab, err := cs[0].SafetyNumber(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	ba, err := cs[1].SafetyNumber(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	ac, err := cs[0].SafetyNumber(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if len(ab.Digits()) != 60 || ab.String() != ba.String() {
		t.Fatalf("alice computes %s, bob %s", ab, ba)
	}
	if err := ab.Matches(strings.ReplaceAll(ba.String(), " ", "-")); err != nil {
		t.Fatalf("the read-out number does not match: %v", err)
	}
	if err := ab.Matches(ac.Digits()); !errors.Is(err, ErrSafetyMismatch) {
		t.Fatalf("another user's number: %v", err)
	}
	if err := ab.Matches(ab.Digits() + "0"); !errors.Is(err, ErrSafetyMismatch) {
		t.Fatalf("a longer number: %v", err)
	}
	if err := ab.VerifyQR(ba.QRPayload()); err != nil {
		t.Fatalf("bob's QR code: %v", err)
	}
	if err := ab.VerifyQR(ac.QRPayload()); !errors.Is(err, ErrSafetyMismatch) {
		t.Fatalf("carol's QR code: %v", err)
	}
	if err := ab.VerifyQR([]byte("not a code")); err == nil || errors.Is(err, ErrSafetyMismatch) {
		t.Fatalf("garbage QR code: %v", err)
	}
	for _, ty := range []GroupType{GroupPrivate, GroupRequest, GroupPublic} {
		if got, err := ParseGroupType(ty.String()); err != nil || got != ty {
			t.Fatalf("ParseGroupType(%q) = %v %v", ty, got, err)
		}
	}
}
