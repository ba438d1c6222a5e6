package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

// Token purposes of the two e-mail links.
const (
	purposeActivate = "activate"
	purposeCancel   = "cancel"
)

// tokenBytes is the entropy of a link token: guessing one is hopeless.
const tokenBytes = 32

// newToken returns a random link token (base64url, no padding) and its
// SHA-256, which is all the store keeps: a database leak yields no usable
// link, and the lookup by hash is the constant-time comparison (nobody can
// time a byte-by-byte compare of the secret itself).
func newToken() (string, []byte, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(tok))
	return tok, h[:], nil
}

// tokenHash returns the hash of a token from a link, or false when it
// cannot be one of ours.
func tokenHash(tok string) ([]byte, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != tokenBytes {
		return nil, false
	}
	h := sha256.Sum256([]byte(tok))
	return h[:], true
}

// startActivation stores an activation and a cancellation token for a
// pending account and mails both links.
func (d *Directory) startActivation(ctx context.Context, username, email string) error {
	expires := d.now().Add(d.ttl)
	links := map[string]string{}
	for _, purpose := range []string{purposeActivate, purposeCancel} {
		tok, hash, err := newToken()
		if err != nil {
			return fmt.Errorf("making %s token: %w", purpose, err)
		}
		t := store.Token{Hash: hash, Purpose: purpose, Username: username, ExpiresAt: expires}
		if err := d.st.PutToken(ctx, t); err != nil {
			return fmt.Errorf("storing %s token: %w", purpose, err)
		}
		links[purpose] = d.baseURL + "/v1/" + purpose + "/" + tok
	}
	subject := "Activate your hush account " + username
	body := fmt.Sprintf(`Someone, hopefully you, registered the hush username %q with this e-mail address.

To activate the account, open this link and confirm:
%s

If this was not you, open this link to delete the registration:
%s

Both links work once and expire at %s.
`, username, links[purposeActivate], links[purposeCancel], expires.UTC().Format("2006-01-02 15:04 MST"))
	if err := d.mailer.Send(ctx, email, subject, body); err != nil {
		d.m.mails.WithLabelValues("failed").Inc()
		// The error may name the address; log only that sending failed.
		d.log.Error("directory: sending activation e-mail failed", "username", username)
		return httpapi.Errorf(http.StatusBadGateway, "mail_failed",
			"the activation e-mail could not be sent; the registration was dropped, try again later")
	}
	d.m.mails.WithLabelValues("sent").Inc()
	return nil
}

// linkPage serves GET on an e-mail link: a page with a confirm button that
// POSTs to the same URL. Mail scanners and link previews fetch GET links
// on their own, so GET never acts (and does not even touch the token).
func (d *Directory) linkPage(purpose string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if _, ok := tokenHash(r.PathValue("token")); !ok {
			return errTokenInvalid()
		}
		p := pageData{Title: "Activate your hush account", Text: "Confirm to activate the account.", Button: "Activate"}
		if purpose == purposeCancel {
			p = pageData{Title: "Delete this hush registration",
				Text: "Confirm to delete the registration made with your e-mail address.", Button: "Delete registration"}
		}
		// The form has no action: it posts to the very URL of the link,
		// wherever the directory is mounted.
		p.Confirm = true
		writePage(w, http.StatusOK, p)
		return nil
	}
}

// handleActivate serves POST /v1/activate/{token}.
func (d *Directory) handleActivate(w http.ResponseWriter, r *http.Request) error {
	tok, err := d.takeToken(r, purposeActivate)
	if err != nil {
		return err
	}
	ctx := r.Context()
	acct, err := d.st.GetAccount(ctx, tok.Username)
	if errors.Is(err, store.ErrNotFound) || (err == nil && acct.State != store.StatePending) {
		return errTokenInvalid()
	}
	if err != nil {
		return fmt.Errorf("getting account: %w", err)
	}
	if err := d.st.ActivateAccount(ctx, tok.Username); err != nil {
		return fmt.Errorf("activating account: %w", err)
	}
	d.log.Info("directory: account activated", "username", tok.Username)
	return writeLinkDone(w, r, tok.Username, proto.StateActive, "The account "+tok.Username+" is active.")
}

// handleCancel serves POST /v1/cancel/{token}: the owner of the address
// removes a registration they did not make. It only works while the account
// is pending; an active account is deleted by its identity key.
func (d *Directory) handleCancel(w http.ResponseWriter, r *http.Request) error {
	tok, err := d.takeToken(r, purposeCancel)
	if err != nil {
		return err
	}
	ctx := r.Context()
	acct, err := d.st.GetAccount(ctx, tok.Username)
	if errors.Is(err, store.ErrNotFound) {
		return errTokenInvalid()
	}
	if err != nil {
		return fmt.Errorf("getting account: %w", err)
	}
	if acct.State != store.StatePending {
		return httpapi.Errorf(http.StatusConflict, "not_active",
			"the account is %s; only a pending registration can be cancelled by e-mail", stateName(acct.State))
	}
	if err := d.st.PurgeAccount(ctx, tok.Username); err != nil {
		return fmt.Errorf("purging account: %w", err)
	}
	d.log.Info("directory: registration cancelled by e-mail link", "username", tok.Username)
	return writeLinkDone(w, r, tok.Username, "cancelled", "The registration of "+tok.Username+" is deleted.")
}

// takeToken consumes the link's token: each link works once.
func (d *Directory) takeToken(r *http.Request, purpose string) (*store.Token, error) {
	hash, ok := tokenHash(r.PathValue("token"))
	if !ok {
		return nil, errTokenInvalid()
	}
	tok, err := d.st.TakeToken(r.Context(), hash, purpose, d.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, errTokenInvalid()
	}
	if err != nil {
		return nil, fmt.Errorf("taking token: %w", err)
	}
	return tok, nil
}

func errTokenInvalid() error {
	return httpapi.Errorf(http.StatusNotFound, "token_invalid", "this link is invalid, expired or already used")
}

// LinkResult is the JSON answer of a confirmed e-mail link.
type LinkResult struct {
	Username string `json:"username"`
	State    string `json:"state"` // "active" or "cancelled"
}

func writeLinkDone(w http.ResponseWriter, r *http.Request, username, state, text string) error {
	if wantsHTML(r) {
		writePage(w, http.StatusOK, pageData{Title: "Done", Text: text})
		return nil
	}
	httpapi.WriteJSON(w, http.StatusOK, LinkResult{Username: username, State: state})
	return nil
}

// wantsHTML reports whether the client is a browser (a form submission):
// it gets pages, programs get JSON.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

func isLinkOp(op string) bool {
	switch op {
	case "activate", "cancel", "activate_page", "cancel_page":
		return true
	}
	return false
}

func writeLinkError(w http.ResponseWriter, err error) {
	var he *httpapi.Error
	if !errors.As(err, &he) {
		he = httpapi.Errorf(http.StatusInternalServerError, "internal", "internal server error")
	}
	writePage(w, he.Status, pageData{Title: "This did not work", Text: he.Message})
}

type pageData struct {
	Title, Text, Button string
	Confirm             bool
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="referrer" content="no-referrer"><title>{{.Title}}</title></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 3em auto">
<h1>{{.Title}}</h1><p>{{.Text}}</p>
{{if .Confirm}}<form method="post"><button type="submit">{{.Button}}</button></form>{{end}}
</body></html>
`))

// writePage writes an HTML page. The URL holds a secret token: no referrer
// leaves the page, no cache keeps it, no other site may frame it (the
// button must not be clickjacked) and no script runs.
func writePage(w http.ResponseWriter, status int, p pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, p)
}
