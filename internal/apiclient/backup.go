package apiclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
)

// ErrNoBackups: the server does not serve key backups (a release before
// them).
var ErrNoBackups = errors.New("the server does not support key backups")

// maxBackupAnswer bounds a downloaded backup: above any server's limit
// an operator would set (the default is 16 MiB).
const maxBackupAnswer = 256 << 20

// BackupOPRF sends one blinded element for the account's backup key
// (doc/API.md §2.19). The server counts it before it answers; a locked
// account gets an *Error with code backup_locked and RetryAfter the time
// until it unlocks.
func (c *Client) BackupOPRF(ctx context.Context, username string, blinded []byte) (*proto.BackupOPRFAnswer, error) {
	body, err := json.Marshal(proto.BackupOPRFRequest{Username: username, Blinded: blinded})
	if err != nil {
		return nil, err
	}
	var a proto.BackupOPRFAnswer
	if _, err := c.backupDo(ctx, "POST", "/v1/backup/oprf", nil, body, "application/json", 1<<16, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// PutBackup stores the account's backup, signed by its identity key.
func (c *Client) PutBackup(ctx context.Context, username string, id *identity.IdentityPrivateKey, data []byte) error {
	sum := sha256.Sum256(data)
	signed, err := proto.SignRequest(id, proto.PutBackupRequest{
		RequestHeader: proto.RequestHeader{Op: proto.OpPutBackup, Username: username, Timestamp: c.now().Unix()},
		Size:          int64(len(data)), SHA256: sum[:],
	})
	if err != nil {
		return err
	}
	h := http.Header{proto.HeaderSignedRequest: {base64.StdEncoding.EncodeToString(signed)}}
	_, err = c.backupDo(ctx, "PUT", "/v1/backup", h, data, "application/octet-stream", 1<<16, nil)
	return err
}

// GetBackup fetches the account's backup; an *Error with code no_backup
// when it has none.
func (c *Client) GetBackup(ctx context.Context, username string) ([]byte, error) {
	return c.backupDo(ctx, "GET", "/v1/backup/"+url.PathEscape(username), nil, nil, "", maxBackupAnswer, nil)
}

// UnlockBackup lifts the account's backup passphrase lock.
func (c *Client) UnlockBackup(ctx context.Context, username string, id *identity.IdentityPrivateKey) error {
	body, err := proto.SignRequest(id, proto.UnlockBackupRequest{
		RequestHeader: proto.RequestHeader{Op: proto.OpUnlockBackup, Username: username, Timestamp: c.now().Unix()},
	})
	if err != nil {
		return err
	}
	_, err = c.backupDo(ctx, "POST", "/v1/backup/unlock", nil, body, "application/json", 1<<16, nil)
	return err
}

// backupDo is do with extra headers, its own answer bound, and a
// Retry-After read without do's one-hour cap: a backup lock lasts up to
// the server's window and the client only shows it, never sleeps on it.
// A server without the endpoints gives ErrNoBackups.
func (c *Client) backupDo(ctx context.Context, method, path string, h http.Header, body []byte, ctype string, maxAnswer int64, out any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.unreachable(ctx, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("server unreachable: reading the answer: %w", err)
	}
	if int64(len(b)) > maxAnswer {
		return nil, fmt.Errorf("%w: %s %s is over %d bytes", ErrAnswerTooLarge, method, path, maxAnswer)
	}
	if resp.StatusCode >= 300 {
		var e proto.ErrorAnswer
		if json.Unmarshal(b, &e) != nil || e.Error.Code == "" {
			if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
				return nil, ErrNoBackups
			}
			return nil, &Error{Status: resp.StatusCode, Code: "http_" + strconv.Itoa(resp.StatusCode), Message: http.StatusText(resp.StatusCode)}
		}
		ae := &Error{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
		if n, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && n > 0 {
			ae.RetryAfter = min(time.Duration(n)*time.Second, 366*24*time.Hour)
		}
		return nil, ae
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("decoding server answer: %w", err)
		}
	}
	return b, nil
}
