package directory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

// handleRegister serves POST /v1/users (op "register"). The registration
// policy and the throttles come first (doc/API.md §2.17): a closed server
// or a client address over its limit is refused before the body is read.
func (d *Directory) handleRegister(w http.ResponseWriter, r *http.Request) error {
	a, err := d.reg.gate(w, r, d.now())
	if err != nil {
		return err
	}
	err = d.register(w, r, a)
	d.reg.settle(a, err)
	return err
}

func (d *Directory) register(w http.ResponseWriter, r *http.Request, at *attempt) error {
	env, err := readSigned(r, MaxLargeBody, false)
	if err != nil {
		return err
	}
	req, err := decodePayload[proto.RegisterRequest](env.Payload, proto.OpRegister)
	if err != nil {
		return err
	}
	if err := d.checkFresh(&req.RequestHeader); err != nil {
		return err
	}
	invite, err := d.reg.inviteFor(req.Invite)
	if err != nil {
		return err
	}
	idk, err := identity.NewIdentityKey(req.IdentityKey)
	if err != nil {
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "identity_key must be %d bytes", identity.IdentityKeySize)
	}
	// Proof of possession of the new key comes before anything else.
	if err := d.verifyRequest(idk, env); err != nil {
		return err
	}
	keys, err := parseUpload(idk, &req.DeviceUpload)
	if err != nil {
		return err
	}
	ctx := r.Context()
	state, notice, err := d.registrationState(ctx, req, idk)
	if err != nil {
		return err
	}
	if err := d.claimRegistration(ctx, env, req, idk); err != nil {
		return err
	}
	now := d.now()
	acct := store.Account{Username: req.Username, IdentityKey: idk.Bytes(), KeyVersion: 1, State: state,
		CreatedAt: now, UpdatedAt: now}
	if state == store.StatePending {
		acct.Email = req.Email
		// Reserved before the account exists: a refused address holds no
		// username.
		if err := d.reg.takeMail(w, at, req.Email, now); err != nil {
			return err
		}
	}
	inviter, err := d.createAccount(ctx, acct, keys, invite, now)
	if err != nil {
		return err
	}
	at.invited = invite != nil
	if err := d.addOneTimes(ctx, req.Username, keys); err != nil {
		return err
	}
	if state == store.StatePending {
		if err := d.startActivation(ctx, req.Username, req.Email); err != nil {
			// Nobody could ever activate the account: free the username
			// (and the invite's use) so that the client can simply try
			// again.
			if perr := d.st.PurgeAccount(ctx, req.Username); perr != nil {
				d.log.Error("directory: purging account after failed activation e-mail", "err", perr)
			}
			if invite != nil {
				if rerr := d.st.ReleaseInvite(ctx, invite); rerr != nil {
					d.log.Error("directory: releasing invite after failed activation e-mail", "err", rerr)
				}
			}
			return err
		}
		at.mailSent = true
	}
	if invite != nil {
		d.log.Info("directory: account registered", "username", req.Username, "state", stateName(state), "invited_by", inviter)
	} else {
		d.log.Info("directory: account registered", "username", req.Username, "state", stateName(state))
	}
	emailIgnored := req.Email != "" && d.mailer == nil
	return d.writeAccount(r, w, http.StatusCreated, req.Username, func(p *proto.UsersPayload) {
		p.EmailIgnored, p.Notice = emailIgnored, notice
	})
}

// createAccount stores the new account, redeeming the invite in the same
// transaction when there is one. It returns who issued the invite
// ("operator" for the operator).
func (d *Directory) createAccount(ctx context.Context, acct store.Account, keys *deviceKeys, invite []byte, now time.Time) (string, error) {
	dev := keys.storeDevice(acct.Username)
	var inv *store.Invite
	var err error
	if invite == nil {
		err = d.st.CreateAccount(ctx, acct, dev, *keys.signed, *keys.lastResort, d.reuse)
	} else {
		inv, err = d.st.CreateAccountWithInvite(ctx, invite, now, acct, dev, *keys.signed, *keys.lastResort, d.reuse)
	}
	switch {
	case err == nil:
	case errors.Is(err, store.ErrUsernameTaken):
		return "", httpapi.Errorf(http.StatusConflict, "username_taken", "this username belongs to another identity key")
	case errors.Is(err, store.ErrNotFound) && invite != nil:
		return "", errInviteInvalid()
	case errors.Is(err, store.ErrInviteUsed):
		return "", httpapi.Errorf(http.StatusForbidden, "invite_used",
			"this invite code was already used; ask whoever gave it to you for a new one")
	case errors.Is(err, store.ErrInviteExpired):
		return "", httpapi.Errorf(http.StatusForbidden, "invite_expired",
			"this invite code has expired; ask whoever gave it to you for a new one")
	default:
		return "", fmt.Errorf("creating account: %w", err)
	}
	if inv == nil {
		return "", nil
	}
	if inv.CreatedBy == "" {
		return "operator", nil
	}
	return inv.CreatedBy, nil
}

// registrationState decides whether a new account waits for e-mail
// activation, and the notice the answer carries.
func (d *Directory) registrationState(ctx context.Context, req *proto.RegisterRequest, idk *identity.IdentityKey) (store.AccountState, string, error) {
	if req.Email == "" {
		return store.StateActive, "", nil
	}
	if d.mailer == nil {
		return store.StateActive, "this server sends no e-mail: the address was ignored and the account is active", nil
	}
	if !validEmail(req.Email) {
		return 0, "", httpapi.Errorf(http.StatusBadRequest, "invalid_email", "email must be a plain address such as name@example.org")
	}
	prev, err := d.st.GetAccount(ctx, req.Username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, "", fmt.Errorf("getting account: %w", err)
	}
	if prev != nil && prev.State == store.StateDeleted && bytes.Equal(prev.IdentityKey, idk.Bytes()) {
		// The owner of a tombstone comes back. A pending account that is
		// never activated is purged, username and all; were the tombstone
		// replaced by one, its username would then be free for anybody.
		return store.StateActive, "a deleted account re-registered by its own identity key is active at once", nil
	}
	return store.StatePending, "an activation e-mail was sent; the account stays pending until its link is confirmed", nil
}

// validEmail accepts a bare address of at most 254 bytes. CR and LF are
// refused so that the address cannot inject mail headers.
func validEmail(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, "\r\n") {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

// addOneTimes stores a device's one-time prekeys of both kinds.
func (d *Directory) addOneTimes(ctx context.Context, username string, k *deviceKeys) error {
	for _, l := range []struct {
		kind store.PreKeyKind
		ks   []store.PreKey
	}{{store.KindOneTime, k.oneTime}, {store.KindKEMOneTime, k.kemOneTime}} {
		if len(l.ks) == 0 {
			continue
		}
		err := d.st.AddOneTimePreKeys(ctx, username, k.device, l.kind, l.ks)
		if errors.Is(err, store.ErrExists) {
			return errDuplicatePreKey()
		}
		if err != nil {
			return fmt.Errorf("adding one-time prekeys: %w", err)
		}
	}
	return nil
}

// handleGetUser serves GET /v1/users/{name}.
func (d *Directory) handleGetUser(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if !proto.ValidUsername(name) {
		return errInvalidUsername()
	}
	return d.writeAccount(r, w, http.StatusOK, name, nil)
}

// handleLookup serves POST /v1/users/lookup.
func (d *Directory) handleLookup(w http.ResponseWriter, r *http.Request) error {
	var req proto.LookupRequest
	if err := httpapi.DecodeJSON(r, MaxSmallBody, &req); err != nil {
		return err
	}
	query, err := parseLookup(&req)
	if err != nil {
		return err
	}
	ans, err := d.usersAnswer(r.Context(), query, wantLists(r))
	if err != nil {
		return err
	}
	return d.writeSigned(w, http.StatusOK, ans)
}

// parseLookup validates the names of a lookup and drops repeats, keeping
// the first occurrence's order.
func parseLookup(req *proto.LookupRequest) ([]string, error) {
	if len(req.Usernames) == 0 {
		return nil, httpapi.Errorf(http.StatusBadRequest, "bad_request", "usernames is empty")
	}
	if len(req.Usernames) > MaxLookup {
		return nil, httpapi.Errorf(http.StatusRequestEntityTooLarge, "too_large", "at most %d usernames per lookup", MaxLookup)
	}
	seen := make(map[string]bool, len(req.Usernames))
	query := make([]string, 0, len(req.Usernames))
	for _, n := range req.Usernames {
		if !proto.ValidUsername(n) {
			return nil, errInvalidUsername()
		}
		if !seen[n] {
			seen[n] = true
			query = append(query, n)
		}
	}
	return query, nil
}

// handleServerKey serves GET /v1/server-key.
func (d *Directory) handleServerKey(w http.ResponseWriter, _ *http.Request) error {
	httpapi.WriteJSON(w, http.StatusOK, d.serverKey)
	return nil
}

// authorize loads the account a payload names and checks the request
// signature with its current identity key.
func (d *Directory) authorize(ctx context.Context, env *proto.SignedRequest, h *proto.RequestHeader) (*store.Account, *identity.IdentityKey, error) {
	if err := d.checkFresh(h); err != nil {
		return nil, nil, err
	}
	acct, err := d.st.GetAccount(ctx, h.Username)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, errUnknownUser()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("getting account: %w", err)
	}
	key, err := identity.NewIdentityKey(acct.IdentityKey)
	if err != nil {
		return nil, nil, fmt.Errorf("stored identity key: %w", err)
	}
	if err := d.verifyRequest(key, env); err != nil {
		return nil, nil, err
	}
	return acct, key, nil
}

func requireActive(a *store.Account) error {
	if a.State != store.StateActive {
		return httpapi.Errorf(http.StatusConflict, "not_active", "the account is %s", stateName(a.State))
	}
	return nil
}

func errUnknownUser() error {
	return httpapi.Errorf(http.StatusNotFound, "unknown_user", "no such user")
}

// handleDeleteAccount serves POST /v1/users/delete (op "delete_account").
func (d *Directory) handleDeleteAccount(w http.ResponseWriter, r *http.Request) error {
	env, err := readSigned(r, MaxSmallBody, false)
	if err != nil {
		return err
	}
	req, err := decodePayload[proto.DeleteAccountRequest](env.Payload, proto.OpDeleteAccount)
	if err != nil {
		return err
	}
	ctx := r.Context()
	acct, _, err := d.authorize(ctx, env, &req.RequestHeader)
	if err != nil {
		return err
	}
	if acct.State == store.StateDeleted {
		return requireActive(acct)
	}
	if err := d.claimRequest(ctx, env, &req.RequestHeader); err != nil {
		return err
	}
	if err := d.st.DeleteAccount(ctx, acct.Username); err != nil {
		return fmt.Errorf("deleting account: %w", err)
	}
	d.log.Info("directory: account deleted", "username", acct.Username)
	return d.writeAccount(r, w, http.StatusOK, acct.Username, nil)
}

// handleRotate serves POST /v1/users/rotate (op "rotate_identity").
func (d *Directory) handleRotate(w http.ResponseWriter, r *http.Request) error {
	env, err := readSigned(r, MaxLargeBody, true)
	if err != nil {
		return err
	}
	req, err := decodePayload[proto.RotateRequest](env.Payload, proto.OpRotateIdentity)
	if err != nil {
		return err
	}
	ctx := r.Context()
	acct, cur, err := d.authorize(ctx, env, &req.RequestHeader)
	if err != nil {
		return err
	}
	next, err := identity.NewIdentityKey(req.NewIdentityKey)
	if err != nil {
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "new_identity_key must be %d bytes", identity.IdentityKeySize)
	}
	// The new key's signature shows its holder asked for this account:
	// nobody can move an account onto a key they do not hold.
	if next.Verify(proto.LabelRequest, env.Payload, env.NewKeySignature) != nil {
		return errBadSignature("new_key_signature does not verify with new_identity_key")
	}
	if err := requireActive(acct); err != nil {
		return err
	}
	if next.Equal(cur) {
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "new_identity_key is the current key")
	}
	devs, err := parseDevices(next, req.Devices)
	if err != nil {
		return err
	}
	stored := make([]store.Device, len(devs))
	for i, k := range devs {
		stored[i] = k.storeDevice(acct.Username)
	}
	if len(req.Rotation) > 0 {
		rot, err := identity.ParseRotation(req.Rotation)
		if err != nil {
			return httpapi.Errorf(http.StatusBadRequest, proto.CodeBadRequest, "rotation: %v", err)
		}
		if !rot.Old.Equal(cur) || !rot.New.Equal(next) || rot.Username != acct.Username {
			return httpapi.Errorf(http.StatusBadRequest, proto.CodeBadRequest, "the rotation statement names other keys or another user")
		}
	}
	var list *store.DeviceList
	if len(req.DeviceList) > 0 {
		l, err := parseList(req.DeviceList, next, acct.Username)
		if err != nil {
			return err
		}
		sl := storeList(l)
		list = &sl
	}
	if err := d.claimRequest(ctx, env, &req.RequestHeader); err != nil {
		return err
	}
	if err := d.st.RotateIdentitySigned(ctx, acct.Username, next.Bytes(), stored, d.now(), req.Rotation, list); err != nil {
		return listErr(fmt.Errorf("rotating identity: %w", err))
	}
	for _, k := range devs {
		if err := d.setPreKeys(ctx, acct.Username, k); err != nil {
			return err
		}
		if err := d.addOneTimes(ctx, acct.Username, k); err != nil {
			return err
		}
	}
	d.log.Info("directory: identity rotated", "username", acct.Username, "key_version", acct.KeyVersion+1)
	return d.writeAccount(r, w, http.StatusOK, acct.Username, nil)
}

// parseDevices checks the devices of a rotation: 1..MaxDevices, distinct
// ids, each certified by idk.
func parseDevices(idk *identity.IdentityKey, ups []proto.DeviceUpload) ([]*deviceKeys, error) {
	if len(ups) == 0 || len(ups) > MaxDevices {
		return nil, httpapi.Errorf(http.StatusBadRequest, "bad_request", "devices must list 1 to %d devices", MaxDevices)
	}
	out := make([]*deviceKeys, 0, len(ups))
	seen := map[uint32]bool{}
	for i := range ups {
		k, err := parseUpload(idk, &ups[i])
		if err != nil {
			return nil, err
		}
		if seen[k.device] {
			return nil, httpapi.Errorf(http.StatusBadRequest, "bad_request", "device %d is listed twice", k.device)
		}
		seen[k.device] = true
		out = append(out, k)
	}
	return out, nil
}

// setPreKeys stores the signed and last-resort prekeys a device uploaded.
func (d *Directory) setPreKeys(ctx context.Context, username string, k *deviceKeys) error {
	if k.signed != nil {
		if err := d.st.SetPreKey(ctx, username, k.device, store.KindSigned, *k.signed); err != nil {
			return fmt.Errorf("setting signed prekey: %w", err)
		}
	}
	if k.lastResort != nil {
		if err := d.st.SetPreKey(ctx, username, k.device, store.KindLastResort, *k.lastResort); err != nil {
			return fmt.Errorf("setting last-resort prekey: %w", err)
		}
	}
	return nil
}
