package hush

import (
	"context"
	"errors"

	"github.com/hush-chat/hush/internal/localstore"
)

// ChangePassphrase re-encrypts the profile under a new passphrase. The
// current one must be given again (ErrWrongPassphrase otherwise): an
// unlocked client left unattended is not enough to lock its owner out.
// The change is one transaction: a crash leaves the profile under the old
// passphrase or wholly under the new one. The Client stays open and
// usable. A profile locked by Options.Key cannot change to a passphrase
// this way.
func (c *Client) ChangePassphrase(ctx context.Context, current, next []byte) error {
	if len(next) == 0 {
		return ErrEmptyPassphrase
	}
	err := c.st.ChangePassphrase(ctx, current, next)
	if errors.Is(err, localstore.ErrStale) {
		return errors.New("the profile changed on disk since it was opened (another process changed its passphrase?): open it again")
	}
	return storeErr(err)
}
