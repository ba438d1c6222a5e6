package directory

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

// requester authenticates the account behind a bundle or prekey-status
// request by its login token (doc/API.md §3). Bundles are not public:
// each one may carry one-time prekeys, and an anonymous caller could take
// them all.
func (d *Directory) requester(r *http.Request) (httpapi.Principal, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return httpapi.Principal{}, httpapi.Errorf(http.StatusUnauthorized, "unauthorized",
			"prekey bundles are served to logged-in accounts only: send Authorization: Bearer <token> (POST /v1/auth/token)")
	}
	p, err := d.tokens.VerifyToken(r.Context(), tok)
	if err != nil {
		return httpapi.Principal{}, httpapi.Errorf(http.StatusUnauthorized, "unauthorized", "invalid or expired token")
	}
	return p, nil
}

// handleBundle serves GET /v1/users/{name}/devices/{id}/bundle to a
// logged-in account, within its fetch rate. The bundle carries one-time
// prekeys only within the hand-out limits (Limits); past them it has the
// signed and the last-resort KEM prekey only, and still starts a session.
func (d *Directory) handleBundle(w http.ResponseWriter, r *http.Request) error {
	who, err := d.requester(r)
	if err != nil {
		return err
	}
	if ok, wait := d.bundles.allow(who.Username, d.now()); !ok {
		return retryAfter(wait, httpapi.Errorf(http.StatusTooManyRequests, "rate_limited",
			"this account fetches prekey bundles faster than the server allows (%g a second); try again in a moment",
			d.lim.BundleRate))
	}
	name, id, err := pathDevice(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	dev, err := d.activeDevice(ctx, name, id)
	if err != nil {
		return err
	}
	keys, err := d.st.TakeBundleKeys(ctx, name, id, who.Username, d.now(), d.lim.handOut())
	if errors.Is(err, store.ErrNotFound) {
		return errUnknownDevice() // deleted meanwhile
	}
	if err != nil {
		return fmt.Errorf("taking one-time prekeys: %w", err)
	}
	b, err := d.buildBundle(ctx, dev, keys)
	if err != nil {
		return err
	}
	counts, err := d.counts(ctx, name, id)
	if err != nil {
		return err
	}
	d.countBundle(b, keys.Withheld)
	return d.writeSigned(w, http.StatusOK, proto.BundlePayload{Type: proto.AnswerTypeBundle, ServerTime: d.now().Unix(),
		Username: name, DeviceID: id, Bundle: b.Marshal(),
		OneTimeRemaining: counts.OneTimeRemaining, KEMOneTimeRemaining: counts.KEMOneTimeRemaining})
}

func (d *Directory) countBundle(b *pqxdh.Bundle, withheld store.Withheld) {
	kem := "one_time"
	if b.KEMPreKey.Kind == pqxdh.KEMLastResort {
		kem = "last_resort"
	}
	d.m.bundles.WithLabelValues(kem, strconv.FormatBool(b.OneTime != nil)).Inc()
	switch withheld {
	case store.WithheldRepeat:
		d.m.withheld.WithLabelValues("repeat").Inc()
	case store.WithheldLimit:
		d.m.withheld.WithLabelValues("limit").Inc()
	}
}

// buildBundle assembles a device's bundle from its certificate, its signed
// prekey and the one-time prekeys taken for it (the last-resort KEM
// prekey when there is no one-time KEM prekey).
func (d *Directory) buildBundle(ctx context.Context, dev *store.Device, keys *store.BundleKeys) (*pqxdh.Bundle, error) {
	cert, err := identity.ParseDeviceCert(dev.Cert)
	if err != nil {
		return nil, fmt.Errorf("stored device certificate: %w", err)
	}
	rec, err := d.st.GetPreKey(ctx, dev.Username, dev.DeviceID, store.KindSigned)
	if err != nil {
		return nil, fmt.Errorf("getting signed prekey: %w", err)
	}
	spk, err := pqxdh.ParseSignedPreKey(rec.Data)
	if err != nil {
		return nil, fmt.Errorf("stored signed prekey: %w", err)
	}
	rec = keys.KEMOneTime
	if rec == nil {
		if rec, err = d.st.GetPreKey(ctx, dev.Username, dev.DeviceID, store.KindLastResort); err != nil {
			return nil, fmt.Errorf("getting last-resort KEM prekey: %w", err)
		}
	}
	kem, err := pqxdh.ParseKEMPreKey(rec.Data)
	if err != nil {
		return nil, fmt.Errorf("stored KEM prekey: %w", err)
	}
	b := &pqxdh.Bundle{Device: cert, SignedPreKey: *spk, KEMPreKey: *kem}
	if keys.OneTime != nil {
		if b.OneTime, err = pqxdh.ParseOneTimePreKey(keys.OneTime.Data); err != nil {
			return nil, fmt.Errorf("stored one-time prekey: %w", err)
		}
	}
	return b, nil
}

// handlePreKeyStatus serves GET /v1/users/{name}/devices/{id}/prekeys/status
// to the device itself (its login token): who else could use it only
// learns how busy someone is.
func (d *Directory) handlePreKeyStatus(w http.ResponseWriter, r *http.Request) error {
	who, err := d.requester(r)
	if err != nil {
		return err
	}
	name, id, err := pathDevice(r)
	if err != nil {
		return err
	}
	if who.Username != name || who.DeviceID != id {
		return httpapi.Errorf(http.StatusForbidden, "forbidden", "only the device itself reads its prekey status")
	}
	ctx := r.Context()
	counts, err := d.counts(ctx, name, id)
	if err != nil {
		return err
	}
	rep, err := d.st.HandOutReport(ctx, name, id, d.now().Add(-d.lim.DeviceWindow))
	if err != nil {
		return fmt.Errorf("hand-out report: %w", err)
	}
	st := proto.PreKeyStatus{PreKeyCounts: *counts, WindowSeconds: int64(d.lim.DeviceWindow.Seconds()), DeviceMax: d.lim.DeviceMax,
		HandedOut: rep.HandedOut, Requesters: rep.Requesters, WithheldRepeat: rep.Repeats, WithheldLimit: rep.Limited}
	if !rep.LastLimited.IsZero() {
		st.LastLimited = rep.LastLimited.Unix()
	}
	httpapi.WriteJSON(w, http.StatusOK, st)
	return nil
}
