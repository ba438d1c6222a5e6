package hush

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hush-chat/hush/internal/localstore"
)

// Restored-copy detection. A profile put back from an older copy would
// encrypt again with message keys it already used (the ratchet's chains
// and the group sender chains go back with it). So the profile counts, in
// its database, every entry it queues for sending (the generation), and
// before anything queued leaves the device it writes that count to a file
// beside the database. A database whose count is below the file's was put
// back: the device then drops every session and its own group sender keys,
// so what it sends next starts from fresh keys, and its peers' messages on
// the old sessions come again through session recovery (reset.go). A copy
// of the whole directory, file included, is not detected this way; session
// recovery still repairs the sessions (doc/SPEC.md §11.4).

const (
	secretGeneration = "generation"
	// GenerationFile is the counter file in the profile directory.
	GenerationFile = "profile.counter"
)

func getGeneration(tx *localstore.Tx) (uint64, error) {
	b, err := tx.GetSecret(secretGeneration)
	if errors.Is(err, localstore.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("client: corrupt generation record")
	}
	return binary.BigEndian.Uint64(b), nil
}

func putGeneration(tx *localstore.Tx, g uint64) error {
	return tx.PutSecret(secretGeneration, binary.BigEndian.AppendUint64(nil, g))
}

// bumpGeneration counts one more queued entry, in the transaction that
// queues it.
func bumpGeneration(tx *localstore.Tx) error {
	g, err := getGeneration(tx)
	if err != nil {
		return err
	}
	return putGeneration(tx, g+1)
}

// readGenerationFile returns the count in the file (0 if there is none or
// it cannot be read: a missing file detects nothing, it refuses nothing).
func readGenerationFile(home string) uint64 {
	if home == "" {
		return 0 // a Store without a profile directory
	}
	b, err := os.ReadFile(filepath.Join(home, GenerationFile))
	if err != nil {
		return 0
	}
	g, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0
	}
	return g
}

// syncGenerationFile writes the database's count to the file before
// anything queued is sent. A write lost in a crash leaves an older count,
// which detects less, never wrongly.
func (c *Client) syncGenerationFile(ctx context.Context) error {
	var g uint64
	if err := c.st.View(ctx, func(tx *localstore.Tx) (err error) { g, err = getGeneration(tx); return err }); err != nil {
		return err
	}
	if g <= c.genWritten || c.home == "" {
		return nil
	}
	// Written in place, fixed width, in one small write: a sector-sized
	// write does not tear, and replacing the file by a rename would make
	// some file systems flush it on every send.
	f, err := os.OpenFile(filepath.Join(c.home, GenerationFile), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("client: writing the send counter: %w", err)
	}
	_, err = f.WriteAt(fmt.Appendf(nil, "%020d\n", g), 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("client: writing the send counter: %w", err)
	}
	c.genWritten = g
	return nil
}

// checkRestored compares the database's count with the file's at open,
// and starts every session and own sender key anew if the database is an
// older copy.
func (c *Client) checkRestored(ctx context.Context) error {
	file := readGenerationFile(c.home)
	return c.st.Update(ctx, func(tx *localstore.Tx) error {
		g, err := getGeneration(tx)
		if err != nil || g >= file {
			c.genWritten = g
			return err
		}
		c.restored = true
		err = forEachContactDevice(tx, func(user string, device uint32) error {
			return retireSession(tx, user, device)
		})
		if err != nil {
			return err
		}
		groups, err := loadGroups(tx)
		if err != nil {
			return err
		}
		for _, r := range groups {
			r.Sender, r.Given = nil, nil // a new sender key, handed to every member again
		}
		if err := saveGroups(tx, groups); err != nil {
			return err
		}
		c.genWritten = file
		return putGeneration(tx, file)
	})
}

// Restored reports whether Open found the profile put back from an older
// copy of itself: its sessions and group sender keys were then started
// anew, and contacts send again what it cannot read.
func (c *Client) Restored() bool { return c.restored }
