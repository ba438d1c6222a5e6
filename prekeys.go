package hush

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/proto"
)

// ErrPreKeysDraining matches the Event.Err reported when the directory had
// to serve this device's bundles without one-time prekeys because they
// were fetched faster than the server allows: someone may be trying to
// use them up. Conversations still start (with the signed and last-resort
// prekeys); the error is a *PreKeysDrainingError.
var ErrPreKeysDraining = errors.New("prekey bundles fetched abnormally fast")

// PreKeysDrainingError says how fast this device's bundles went out.
type PreKeysDrainingError struct {
	Withheld   int64         // bundles served without one-time prekeys at the limit since the last check
	Limit      int           // bundles with one-time prekeys the server hands out per Window
	Window     time.Duration // the server's hand-out window
	Requesters int           // accounts that received one-time prekeys in the last Window
	Last       time.Time     // when the limit was last reached
}

func (e *PreKeysDrainingError) Error() string {
	return fmt.Sprintf("this device's prekey bundles are being fetched abnormally fast: the server held back its one-time prekeys "+
		"from %d bundles (it hands out at most %d per %s; %d accounts got some, the last at %s). New conversations still start, "+
		"their first messages with less forward secrecy; if this goes on, tell the server's operator",
		e.Withheld, e.Limit, span(e.Window), e.Requesters, e.Last.Local().Format("15:04"))
}

// span writes a whole number of hours or minutes the way people say it.
func span(d time.Duration) string {
	switch {
	case d == time.Hour:
		return "hour"
	case d > 0 && d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d == time.Minute:
		return "minute"
	case d > 0 && d%time.Minute == 0:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}

func (e *PreKeysDrainingError) Unwrap() error { return ErrPreKeysDraining }

const (
	// secretPreKeyWatch holds the directory's count of withheld bundles
	// last reported, so each incident is reported once.
	secretPreKeyWatch = "prekey-watch"
	// bundleWaitMax bounds how long a send waits in all when the server
	// asks it to fetch bundles more slowly.
	bundleWaitMax = 30 * time.Second
	// maintainEvery is how often a running Listen checks its prekeys.
	maintainEvery = 30 * time.Minute
)

// withBearer runs f with this device's login token, logging in again once
// when the server refuses the stored one. The relay transport's login is
// shared; in direct mode the device logs in to the server all the same,
// since the directory serves bundles to logged-in accounts only.
func (c *Client) withBearer(ctx context.Context, f func(token string) error) error {
	tr, err := c.transport(ctx)
	if err != nil {
		return err
	}
	rt, ok := tr.(*relayTransport)
	if !ok {
		rt = &relayTransport{c: c, mailbox: identity.MailboxID(c.id.Public(), c.dev.ID())}
	}
	return rt.withToken(ctx, func(s *apiclient.Session) error { return f(s.Token) })
}

// fetchBundle fetches a device's prekey bundle. When the server asks to
// slow down (a client starting very many conversations at once, such as a
// new large group), it waits as told and tries again, up to bundleWaitMax
// in all.
func (c *Client) fetchBundle(ctx context.Context, user string, device uint32) (*proto.BundleAnswer, error) {
	var waited time.Duration
	for {
		var ba *proto.BundleAnswer
		err := c.withBearer(ctx, func(tok string) (err error) {
			ba, err = c.api.Bundle(ctx, tok, user, device)
			return err
		})
		var ae *apiclient.Error
		if !errors.As(err, &ae) || ae.Code != "rate_limited" {
			return ba, serverErr(err)
		}
		wait := max(ae.RetryAfter, time.Second)
		if waited+wait > bundleWaitMax {
			return nil, fmt.Errorf("the server limits how fast new conversations start; try again in %s", wait.Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		waited += wait
	}
}

// preKeyStatus returns the directory's counts of this device's one-time
// prekeys and, when the server keeps them, how they went out (nil from a
// server without hand-out limits).
func (c *Client) preKeyStatus(ctx context.Context) (*proto.PreKeyCounts, *proto.PreKeyStatus, error) {
	var st *proto.PreKeyStatus
	err := c.withBearer(ctx, func(tok string) (err error) {
		st, err = c.api.PreKeyStatus(ctx, tok, c.prof.Username, c.dev.ID())
		return err
	})
	if apiclient.IsCode(err, "not_found") {
		counts, err := c.api.PreKeyCounts(ctx, c.prof.Username, c.dev.ID())
		return counts, nil, serverErr(err)
	}
	if err != nil {
		return nil, nil, serverErr(err)
	}
	return &st.PreKeyCounts, st, nil
}

type preKeyWatch struct {
	WithheldLimit int64 `json:"withheld_limit"`
}

// checkDraining reports (through report, when not nil) bundles the
// directory served without one-time prekeys at its limit since the last
// check, and remembers the count.
func (c *Client) checkDraining(ctx context.Context, st *proto.PreKeyStatus, report func(Event)) error {
	if st == nil {
		return nil
	}
	var seen preKeyWatch
	err := c.st.Update(ctx, func(tx *localstore.Tx) error {
		b, err := tx.GetSecret(secretPreKeyWatch)
		switch {
		case errors.Is(err, localstore.ErrNotFound):
		case err != nil:
			return err
		default:
			if err := json.Unmarshal(b, &seen); err != nil {
				seen = preKeyWatch{} // unreadable: start over
			}
		}
		if st.WithheldLimit == seen.WithheldLimit {
			return nil
		}
		return tx.PutSecret(secretPreKeyWatch, encodeJSON(preKeyWatch{WithheldLimit: st.WithheldLimit}))
	})
	if err != nil {
		return err
	}
	// A smaller count: the device was added again (the server counts per
	// device); everything it reports is new.
	n := st.WithheldLimit - seen.WithheldLimit
	if n < 0 {
		n = st.WithheldLimit
	}
	if n > 0 && report != nil {
		report(Event{Err: &PreKeysDrainingError{Withheld: n, Limit: st.DeviceMax,
			Window: time.Duration(st.WindowSeconds) * time.Second, Requesters: st.Requesters,
			Last: time.Unix(st.LastLimited, 0)}})
	}
	return nil
}

// maintainLoop repeats the prekey maintenance while a Listen runs: a
// device that stays online refills its one-time prekeys and hears of
// abnormal draining without restarting.
func (c *Client) maintainLoop(ctx context.Context, report func(Event)) {
	t := time.NewTicker(maintainEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.maintain(ctx, report); err != nil && ctx.Err() == nil {
			report(Event{Err: fmt.Errorf("prekey maintenance: %w", err)})
		}
	}
}
