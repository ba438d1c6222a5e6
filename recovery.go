package hush

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/backup"
	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/provision"
	"github.com/hush-chat/hush/internal/shamir"
	"github.com/hush-chat/hush/internal/wire"
)

// Social recovery (doc/DEVICES.md §6, doc/SPEC.md §15.8): a recovery
// secret R wraps the backup's content key; R is split into Shamir shares
// held by contacts, any threshold of which rebuild it on a new machine.
//
// A share travels to its holder as application kind 0x0a on the 1:1
// session: b32(share) || b32(set) || b8(set signature), the set signed by
// the owner's identity key. A holder keeps the newest share per owner
// (secretRecoveryShares) and hands it, sealed to the request's one-time
// key, to a recovery request the owner started (ApproveRecovery).

const secretRecoveryShares = "recovery-shares"

// heldShare is a share this device holds for another user.
type heldShare struct {
	Share    []byte `json:"share"`
	Set      []byte `json:"set"`
	Sig      []byte `json:"sig"`
	Received int64  `json:"received"`
}

func encodeShareMessage(share, set, sig []byte) []byte {
	w := wire.NewWriter(nil)
	w.U8(appVersion)
	w.U8(appKindRecoveryShare)
	w.Bytes32(share)
	w.Bytes32(set)
	w.Bytes8(sig)
	return w.Bytes()
}

func decodeShareMessage(body []byte) (share, set, sig []byte, err error) {
	r := wire.NewReader("recovery share", body)
	share = r.Bytes32("share", 1<<10)
	set = r.Bytes32("set", 64<<10)
	sig = r.Bytes8("signature", 255)
	return share, set, sig, r.Done()
}

// RecoverySetup says what SetupRecovery did.
type RecoverySetup struct {
	Threshold int
	Holders   []string
	SetID     string
}

// SetupRecovery splits a new recovery secret into shares for holders, any
// threshold of whom can later let this user restore the backup on a new
// machine (StartRecovery). It needs the backup passphrase (one counted
// try): the backup's recovery wrap is replaced, so shares handed out
// before stop working. The shares go out through the outbox, end to end
// encrypted; holders store them without doing anything.
func (c *Client) SetupRecovery(ctx context.Context, backupPassphrase []byte, threshold int, holders []string) (*RecoverySetup, error) {
	n := len(holders)
	if threshold < 2 || threshold > n || n > 255 {
		return nil, fmt.Errorf("a threshold of %d of %d holders: choose 2 <= threshold <= holders <= 255", threshold, n)
	}
	seen := map[string]bool{}
	for _, h := range holders {
		if h == c.prof.Username || seen[h] {
			return nil, fmt.Errorf("holder %q: name each holder once, and not yourself", h)
		}
		seen[h] = true
	}
	for _, h := range holders { // every holder must be reachable before anything changes
		rec, err := c.contactForSend(ctx, h)
		if err != nil {
			return nil, fmt.Errorf("holder %s: %w", h, err)
		}
		if rec.Changed {
			return nil, fmt.Errorf("%w: holder %s has a new identity key; verify it first", ErrIdentityChanged, h)
		}
	}
	b, err := fetchBackup(ctx, c.api, c.prof.Username)
	if err != nil {
		return nil, err
	}
	k, err := c.backupKey(ctx, c.api, b, c.prof.Username, backupPassphrase)
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	defer clear(secret)
	nb, err := backup.AddRecovery(b, c.prof.Username, k.key, secret)
	if err != nil {
		return nil, openErr(err, k.triesLeft)
	}
	set, shares, err := shamir.Split(secret, threshold, n, c.prof.Username)
	if err != nil {
		return nil, err
	}
	sig := set.Sign(c.id.Sign)
	for i, h := range holders {
		pt := encodeShareMessage(shares[i].Bytes(), set.Bytes(), sig)
		shares[i].Wipe()
		if err := c.queueControl(ctx, h, pt, "recovery share for "+h); err != nil {
			return nil, fmt.Errorf("handing the share to %s: %w", h, err)
		}
	}
	if err := c.api.PutBackup(ctx, c.prof.Username, c.id, nb.Bytes()); err != nil {
		return nil, backupErr(err)
	}
	if err := c.flushNow(ctx); err != nil {
		return nil, err
	}
	return &RecoverySetup{Threshold: threshold, Holders: slices.Clone(holders), SetID: set.ID()}, nil
}

// storeShare keeps a share sent by its owner (the sealed sender), after
// checking the set's signature under the owner's pinned identity key.
func (c *Client) storeShare(tx *localstore.Tx, content *envelope.Content, rec *contactRecord, body []byte) error {
	owner := content.Sender.User
	share, setb, sig, err := decodeShareMessage(body)
	if err != nil {
		return drop("from %s: %w", owner, err)
	}
	key, err := identity.NewIdentityKey(rec.IdentityKey)
	if err != nil {
		return err
	}
	set, err := shamir.ParseSignedSet(setb, sig, key.Verify)
	if err != nil || set.Username() != owner {
		return drop("from %s: a recovery share whose set is not signed by %s", owner, owner)
	}
	s, err := shamir.ParseShare(share)
	if err != nil {
		return drop("from %s: %w", owner, err)
	}
	if err := set.Verify(&s); err != nil {
		return drop("from %s: %w", owner, err)
	}
	held, err := loadShares(tx)
	if err != nil {
		return err
	}
	held[owner] = heldShare{Share: share, Set: setb, Sig: sig, Received: c.now().Unix()}
	return tx.PutSecret(secretRecoveryShares, encodeJSON(held))
}

func loadShares(tx *localstore.Tx) (map[string]heldShare, error) {
	held := map[string]heldShare{}
	b, err := tx.GetSecret(secretRecoveryShares)
	if errors.Is(err, localstore.ErrNotFound) {
		return held, nil
	}
	if err != nil {
		return nil, err
	}
	return held, decodeJSON(b, &held, "recovery shares")
}

// HeldShare describes a recovery share this device holds for someone.
type HeldShare struct {
	Owner     string
	Threshold int
	Total     int
	SetID     string
	Received  time.Time
}

// HeldShares lists the recovery shares this device holds.
func (c *Client) HeldShares(ctx context.Context) ([]HeldShare, error) {
	var out []HeldShare
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		held, err := loadShares(tx)
		if err != nil {
			return err
		}
		for owner, h := range held {
			s, err := shamir.ParseShare(h.Share)
			if err != nil {
				continue
			}
			out = append(out, HeldShare{Owner: owner, Threshold: s.Threshold(), Total: s.Total(), SetID: s.SetID(), Received: time.Unix(h.Received, 0)})
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Owner < out[j].Owner })
	return out, err
}

// RecoveryRequest is someone's request to recover their account, as a
// holder sees it. Compare Fingerprint with the person (on the phone, in
// person) before ApproveRecovery.
type RecoveryRequest struct {
	Username    string
	Fingerprint string
	slot        string
	key         []byte
}

// InspectRecovery fetches the request a recovery code names, checks the
// server returned the key the code commits to and that it is username's,
// and that this device holds a share for username.
func (c *Client) InspectRecovery(ctx context.Context, username, code string) (*RecoveryRequest, error) {
	slot, hash, err := provision.ParseCodeFor(provision.RecoveryPrefix, code)
	if err != nil {
		return nil, fmt.Errorf("%v: copy the whole code the recovering device shows (HUSH-RECOVER-…)", err)
	}
	ans, err := c.api.RecoveryKey(ctx, slot)
	if apiclient.IsCode(err, proto.CodeUnknownRecovery) {
		return nil, errors.New("the recovery request expired or does not exist: the person recovering starts again with hush recovery start")
	}
	if err != nil {
		return nil, serverErr(err)
	}
	if err := provision.CheckKey(hash, ans.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: do not approve", err)
	}
	if ans.Username != username {
		return nil, fmt.Errorf("this request recovers %s, not %s: do not approve unless that is who asked", ans.Username, username)
	}
	if _, err := c.heldShare(ctx, username); err != nil {
		return nil, err
	}
	return &RecoveryRequest{Username: username, Fingerprint: provision.Fingerprint(ans.PublicKey), slot: slot, key: ans.PublicKey}, nil
}

func (c *Client) heldShare(ctx context.Context, owner string) (heldShare, error) {
	var h heldShare
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		held, err := loadShares(tx)
		if err != nil {
			return err
		}
		var ok bool
		if h, ok = held[owner]; !ok {
			return fmt.Errorf("this device holds no recovery share for %s (hush recovery shares lists those it holds)", owner)
		}
		return nil
	})
	return h, err
}

// ApproveRecovery hands this device's share for req's user to the request,
// sealed to its one-time key.
func (c *Client) ApproveRecovery(ctx context.Context, req *RecoveryRequest) error {
	h, err := c.heldShare(ctx, req.Username)
	if err != nil {
		return err
	}
	w := wire.NewWriter(nil)
	w.U8(0x01)
	w.Bytes8([]byte(c.prof.Username))
	w.Bytes32(h.Share)
	w.Bytes32(h.Set)
	w.Bytes8(h.Sig)
	ct, err := provision.SealShare(req.key, req.slot, w.Bytes())
	if err != nil {
		return err
	}
	err = c.withBearer(ctx, func(tok string) error { return c.api.AnswerRecovery(ctx, tok, req.slot, ct) })
	if apiclient.IsCode(err, proto.CodeUnknownRecovery) {
		return errors.New("the recovery request expired: the person recovering starts again with hush recovery start")
	}
	return serverErr(err)
}

// Recovery is a new machine waiting for holders' shares.
type Recovery struct {
	o        Options
	c        *Client
	key      *provision.Key
	slot     string
	code     string
	username string
	expires  time.Time
}

// StartRecovery opens a recovery request for username on o.ServerURL, for
// a new profile at o.Home. Give Code to the holders (each runs hush
// recovery approve) and compare Fingerprint with them; then Wait.
func StartRecovery(ctx context.Context, o Options, username string) (*Recovery, error) {
	if !proto.ValidUsername(username) {
		return nil, fmt.Errorf("invalid username %q: use 3 to 32 of a-z, 0-9, _ and -, starting with a letter or digit", username)
	}
	if err := checkNewProfile(&o, "no server given: name the server that holds the backup"); err != nil {
		return nil, err
	}
	c := newClient(o)
	c.api = c.newAPI(o.ServerURL, nil)
	if _, err := c.api.ServerKey(ctx); err != nil {
		return nil, serverErr(err)
	}
	key, err := provision.NewKey()
	if err != nil {
		return nil, err
	}
	ans, err := c.api.OpenRecovery(ctx, username, key.Public())
	if err != nil {
		return nil, serverErr(err)
	}
	code, err := provision.CodeFor(provision.RecoveryPrefix, ans.ID, key.Public())
	if err != nil {
		return nil, err
	}
	return &Recovery{o: o, c: c, key: key, slot: ans.ID, code: code, username: username, expires: time.Unix(ans.ExpiresAt, 0)}, nil
}

// Code is the recovery code the holders approve.
func (r *Recovery) Code() string { return r.code }

// Fingerprint is what the holders' devices show for this request.
func (r *Recovery) Fingerprint() string { return provision.Fingerprint(r.key.Public()) }

// ExpiresAt is when the server forgets the request.
func (r *Recovery) ExpiresAt() time.Time { return r.expires }

// RecoveryProgress reports a share that arrived: from whom, whether it was
// good, and how many good ones there are of how many needed.
type RecoveryProgress struct {
	Holder    string
	Err       error // a share that does not verify, named by its holder
	Valid     int
	Threshold int
}

// Wait collects shares until enough valid ones rebuild the recovery
// secret, then restores the backup with it as a new device of the account
// and returns the profile open. progress (if not nil) hears of each share.
func (r *Recovery) Wait(ctx context.Context, progress func(RecoveryProgress)) (*Client, error) {
	c := r.c
	u, err := c.lookup(ctx, r.username)
	if err != nil {
		return nil, err
	}
	type got struct {
		set    *shamir.Set
		shares []shamir.Share
	}
	sets := map[string]*got{}
	seen := 0
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cts, err := c.api.RecoveryAnswers(ctx, r.slot, seen, 20)
		if apiclient.IsCode(err, proto.CodeUnknownRecovery) {
			return nil, errors.New("the recovery request expired: run hush recovery start again")
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, serverErr(err)
		}
		if len(cts) <= seen {
			continue
		}
		reported := seen // progress tells of each answer once
		seen = len(cts)
		for k := range sets { // answers come whole each time: recount
			sets[k].shares = nil
		}
		for i, ct := range cts {
			report := progress
			if i < reported {
				report = nil
			}
			holder, set, share, err := r.openShare(ct, u.IdentityKey)
			if set != nil && err == nil {
				g := sets[set.ID()]
				if g == nil {
					g = &got{set: set}
					sets[set.ID()] = g
				}
				g.shares = append(g.shares, share)
				if report != nil {
					report(RecoveryProgress{Holder: holder, Valid: len(g.shares), Threshold: set.Threshold()})
				}
			} else if report != nil {
				report(RecoveryProgress{Holder: holder, Err: err})
			}
		}
		for _, g := range sets {
			if len(g.shares) < g.set.Threshold() {
				continue
			}
			secret, err := shamir.Combine(g.set, g.shares)
			if err != nil {
				continue
			}
			cl, err := r.restore(ctx, secret)
			clear(secret)
			if errors.Is(err, backup.ErrWrongRecoverySecret) {
				continue // shares of an older setup: keep waiting for the current one's
			}
			return cl, err
		}
	}
}

// openShare opens one holder's answer and checks it against the owner's
// signed set.
func (r *Recovery) openShare(ct []byte, owner *identity.IdentityKey) (string, *shamir.Set, shamir.Share, error) {
	pt, err := r.key.OpenShare(r.slot, ct)
	if err != nil {
		return "?", nil, shamir.Share{}, err
	}
	rd := wire.NewReader("recovery answer", pt)
	rd.Version(0x01)
	holder := string(rd.Bytes8("holder", 255))
	share := rd.Bytes32("share", 1<<10)
	setb := rd.Bytes32("set", 64<<10)
	sig := rd.Bytes8("signature", 255)
	if err := rd.Done(); err != nil {
		return holder, nil, shamir.Share{}, err
	}
	set, err := shamir.ParseSignedSet(setb, sig, owner.Verify)
	if err != nil || set.Username() != r.username {
		return holder, nil, shamir.Share{}, fmt.Errorf("the share from %s is not of a setup %s signed", holder, r.username)
	}
	s, err := shamir.ParseShare(share)
	if err == nil {
		err = set.Verify(&s)
	}
	if err != nil {
		return holder, nil, shamir.Share{}, fmt.Errorf("the share from %s is wrong or was altered (%v): ask another holder", holder, err)
	}
	return holder, set, s, nil
}

// restore opens the backup with the rebuilt secret and makes the profile.
func (r *Recovery) restore(ctx context.Context, secret []byte) (*Client, error) {
	c := r.c
	serverKey, err := c.api.ServerKey(ctx)
	if err != nil {
		return nil, serverErr(err)
	}
	b, err := fetchBackup(ctx, c.api, r.username)
	if err != nil {
		return nil, err
	}
	raw, err := backup.OpenWithRecovery(b, r.username, secret)
	if err != nil {
		return nil, err
	}
	_, statErr := os.Stat(r.o.Home)
	madeHome := r.o.Home != "" && errors.Is(statErr, fs.ErrNotExist)
	cl, err := c.restoreFrom(ctx, r.o, r.username, raw, serverKey)
	if err != nil && madeHome {
		os.Remove(r.o.Home)
	}
	return cl, err
}
