// Package export writes a hush conversation as a ZIP archive that can be
// read offline: index.html (one self-contained page, no scripts, no
// network) and files/ with the attachments, already decrypted.
//
// The writer does no network and no cryptography: the caller hands it the
// messages and a Files source for the attachments' plaintext. It promises:
//
//   - every piece of message content (text, names, file names) is HTML
//     escaped, and the page forbids scripts by its Content-Security-Policy;
//   - attachments are stored under files/ with names stripped of directory
//     elements, control and formatting characters, made unique, so no
//     hostile name can escape the folder or replace index.html;
//   - attachments are streamed from Files into the archive, never held
//     whole in memory;
//   - the same input gives the same bytes: every entry carries the export
//     time, nothing depends on the local time zone or on map order.
package export

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hush-chat/hush"
)

// ErrNotAvailable is what Files.Open returns (possibly wrapped) when the
// attachment's plaintext is not on this device; the page then says
// "not downloaded" instead of linking to it.
var ErrNotAvailable = errors.New("attachment not available")

// Conversation is what an export holds.
type Conversation struct {
	Self     string         // the exporting user
	Peer     string         // the other side (a user, or #group)
	Messages []hush.Message // oldest first, as hush.History returns them
	Exported time.Time      // shown on the page and stamped on every entry
}

// Files opens the plaintext of a message's attachment, or returns
// ErrNotAvailable. Write closes what Open returns.
type Files interface {
	Open(ctx context.Context, m hush.Message) (io.ReadCloser, error)
}

// fileState is what happened to one attachment.
type fileState int

const (
	fileNone     fileState = iota // no attachment (or a memo read back as text)
	fileIncluded                  // stored under files/
	fileMissing                   // Files said ErrNotAvailable
	fileSkipped                   // the export was made without files
)

// Write writes the conversation to w as a ZIP archive. With files nil the
// archive holds only index.html and the page says attachments were left
// out. An error from Files other than ErrNotAvailable, from w, or ctx
// being done stops the export; what was written by then is not a valid
// archive.
func Write(ctx context.Context, w io.Writer, c Conversation, files Files) error {
	zw := zip.NewWriter(w)
	stamp := c.Exported.UTC()
	names := newNamer()
	items := make([]item, len(c.Messages))
	for i, m := range c.Messages {
		items[i] = item{Message: m}
		if !hasFile(m) {
			continue
		}
		if files == nil {
			items[i].state = fileSkipped
			continue
		}
		name := names.next(m.Attachment.Name)
		ok, err := copyFile(ctx, zw, stamp, "files/"+name, files, m)
		if err != nil {
			return fmt.Errorf("export: attachment of message %s: %w", m.ID, err)
		}
		items[i].state = fileMissing
		if ok {
			items[i].state, items[i].file = fileIncluded, name
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	iw, err := create(zw, stamp, "index.html")
	if err != nil {
		return err
	}
	if err := writePage(iw, c, items); err != nil {
		return fmt.Errorf("export: index.html: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// hasFile reports whether m carries a file to export. A memo whose text
// was fetched is shown as text; one not fetched yet is exported (or
// reported missing) like any file.
func hasFile(m hush.Message) bool {
	a := m.Attachment
	return a != nil && !(a.Memo && m.Text != "")
}

// copyFile streams one attachment into the archive. It reports false,
// with no entry written, when the plaintext is not available.
func copyFile(ctx context.Context, zw *zip.Writer, stamp time.Time, name string, files Files, m hush.Message) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	r, err := files.Open(ctx, m)
	if errors.Is(err, ErrNotAvailable) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	fw, err := create(zw, stamp, name)
	if err == nil {
		_, err = io.Copy(fw, ctxReader{ctx, r})
	}
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return err == nil, err
}

// create adds an entry stamped with the export time, so that the archive
// does not depend on when or where it was written.
func create(zw *zip.Writer, stamp time.Time, name string) (io.Writer, error) {
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: stamp}
	h.SetMode(0o644)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return w, nil
}

// ctxReader stops a long copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
