package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

// Invite codes (doc/API.md §2.17): 16 symbols of Crockford's base32, 80
// random bits, written in groups of four (K7QM-3XZP-9RTA-WD4H). The
// alphabet has no I, L, O or U; reading the code back forgives case,
// dashes, spaces and the look-alikes O→0, I→1, L→1. Only the SHA-256 of
// the canonical form is stored, and a code is found by its hash, so no
// byte-by-byte comparison of a secret can be timed. 80 bits against a
// throttled endpoint leave guessing hopeless.
const (
	inviteAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	inviteSymbols  = 16
)

// Invite limits and defaults.
const (
	// DefaultInviteTTL is how long an invite stays valid unless its issuer
	// says otherwise.
	DefaultInviteTTL = 7 * 24 * time.Hour
	// MaxUserInviteTTL bounds the validity of an invite a user issues.
	MaxUserInviteTTL = 30 * 24 * time.Hour
	// MaxInviteUses bounds the registrations one operator invite admits.
	MaxInviteUses = 100000
)

// newInviteCode returns a fresh code, formatted for people, and the hash
// the store keeps.
func newInviteCode() (string, []byte, error) {
	var b [inviteSymbols * 5 / 8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	var canon strings.Builder
	var acc, bits uint
	for _, x := range b {
		acc, bits = acc<<8|uint(x), bits+8
		for bits >= 5 {
			bits -= 5
			canon.WriteByte(inviteAlphabet[(acc>>bits)&31])
		}
	}
	c := canon.String()
	h := sha256.Sum256([]byte(c))
	return c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16], h[:], nil
}

// inviteHash returns the stored hash of a code as typed, or false when it
// cannot be a code at all.
func inviteHash(code string) ([]byte, bool) {
	if len(code) > 64 {
		return nil, false
	}
	var canon strings.Builder
	for _, r := range strings.ToUpper(code) {
		switch r {
		case '-', ' ':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		if r > 0x7f || !strings.ContainsRune(inviteAlphabet, r) {
			return nil, false
		}
		canon.WriteRune(r)
	}
	if canon.Len() != inviteSymbols {
		return nil, false
	}
	h := sha256.Sum256([]byte(canon.String()))
	return h[:], true
}

// IssuedInvite is a new invite code: the only moment the code exists in
// clear on the server side.
type IssuedInvite struct {
	Code      string
	ExpiresAt time.Time
	Uses      int
}

// IssueInvite stores a new operator invite admitting uses registrations
// until now+ttl, and returns its code. It is what `hush server invite`
// runs against the server's store.
func IssueInvite(ctx context.Context, st store.Invites, uses int, ttl time.Duration, now time.Time) (*IssuedInvite, error) {
	if uses < 1 || uses > MaxInviteUses {
		return nil, fmt.Errorf("an invite admits 1 to %d registrations", MaxInviteUses)
	}
	if ttl <= 0 {
		return nil, errors.New("an invite must stay valid for a positive time")
	}
	code, hash, err := newInviteCode()
	if err != nil {
		return nil, err
	}
	inv := store.Invite{Hash: hash, CreatedAt: now, ExpiresAt: now.Add(ttl), MaxUses: uses}
	if err := st.PutInvite(ctx, inv); err != nil {
		return nil, fmt.Errorf("storing the invite: %w", err)
	}
	return &IssuedInvite{Code: code, ExpiresAt: inv.ExpiresAt, Uses: uses}, nil
}

// handleCreateInvite serves POST /v1/invites: a user issues a one-use
// invite, where the operator lets users invite.
func (d *Directory) handleCreateInvite(w http.ResponseWriter, r *http.Request) error {
	if err := d.reg.userInvitesAllowed(); err != nil {
		return err
	}
	req, env, acct, _, err := activeMutation[proto.CreateInviteRequest](d, r, MaxSmallBody, proto.OpCreateInvite)
	if err != nil {
		return err
	}
	ttl := DefaultInviteTTL
	if req.ExpiresIn != 0 {
		if req.ExpiresIn < 60 || req.ExpiresIn > int64(MaxUserInviteTTL/time.Second) {
			return httpapi.Errorf(http.StatusBadRequest, "bad_request", "expires_in must be 60 to %d seconds (30 days)",
				int64(MaxUserInviteTTL/time.Second))
		}
		ttl = time.Duration(req.ExpiresIn) * time.Second
	}
	code, hash, err := newInviteCode()
	if err != nil {
		return err
	}
	ctx, now, limit := r.Context(), d.now(), d.reg.userInvites
	if err := d.claimRequest(ctx, env, &req.RequestHeader); err != nil {
		return err
	}
	inv := store.Invite{Hash: hash, CreatedBy: acct.Username, CreatedAt: now, ExpiresAt: now.Add(ttl), MaxUses: 1}
	err = d.st.PutUserInvite(ctx, inv, limit)
	if errors.Is(err, store.ErrInviteLimit) {
		return httpapi.Errorf(http.StatusForbidden, "invite_limit",
			"you have issued all %d invites this server allows each user (used and unexpired ones count); ask its operator for more", limit)
	}
	if err != nil {
		return fmt.Errorf("storing invite: %w", err)
	}
	n, err := d.st.CountUserInvites(ctx, acct.Username, now)
	if err != nil {
		return fmt.Errorf("counting invites: %w", err)
	}
	d.log.Info("directory: invite issued", "by", acct.Username)
	httpapi.WriteJSON(w, http.StatusCreated, proto.InviteAnswer{Code: code, ExpiresAt: inv.ExpiresAt.Unix(), Uses: 1,
		InvitesLeft: max(limit-n, 0)})
	return nil
}
