package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/internal/export"
)

func newExportCmd(pf *profileFlags) *cobra.Command {
	var out string
	var noFiles bool
	c := &cobra.Command{
		Use:   "export <user> -o chat.zip",
		Short: "Write a conversation as a ZIP: index.html to read offline, and files/",
		Long: `Write the stored conversation with a user as a ZIP archive: index.html, a
page readable offline with every message, its sender and time (UTC), and files/
with the attachments, decrypted. Attachments not yet downloaded to this device
are fetched and verified for the export (and not kept); one that cannot be
fetched is listed as "not downloaded". The archive holds decrypted messages:
keep it as safe as the profile.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if out == "" {
				return usageError{errors.New("say where to write the archive: -o chat.zip")}
			}
			cl, err := pf.open(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			return runExport(c, cl, args[0], out, noFiles)
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "write the ZIP archive to this file")
	c.Flags().BoolVar(&noFiles, "no-files", false, "leave the attachments out (index.html only)")
	return c
}

func runExport(c *cobra.Command, cl *hush.Client, peer, out string, noFiles bool) error {
	ctx, stop := withSignals(c.Context())
	defer stop()
	ms, err := cl.History(ctx, peer, 0)
	if err != nil {
		return explain(err)
	}
	if len(ms) == 0 {
		return fmt.Errorf("no stored conversation with %s", peer)
	}
	conv := export.Conversation{Self: cl.Username(), Peer: peer, Messages: ms, Exported: time.Now()}
	var files export.Files
	if !noFiles {
		dir, err := os.MkdirTemp(filepath.Dir(out), ".hush-export-files-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		files = &localFiles{dl: cl, dir: dir, warn: c.ErrOrStderr()}
	}
	err = writeFileAtomically(out, func(w io.Writer) error { return export.Write(ctx, w, conv, files) })
	if err != nil {
		return explain(err)
	}
	fmt.Fprintf(c.OutOrStdout(), "exported %d messages with %s to %s\n", len(ms), peer, out)
	return nil
}

// fileDownloader is hush.Client's Download (an interface so tests can
// stand in for it): it fetches, decrypts and verifies the file of a
// message into dir and returns its path.
type fileDownloader interface {
	Download(ctx context.Context, messageID, dir string, progress func(done, total int64)) (string, error)
}

// localFiles opens attachments already downloaded and verified on this
// device (Attachment.Path). The others it fetches with dl into the
// temporary dir, each removed once copied into the archive; without dl,
// or when fetching fails (reported on warn), they are not available.
type localFiles struct {
	dl   fileDownloader
	dir  string
	warn io.Writer
}

func (f *localFiles) Open(ctx context.Context, m hush.Message) (io.ReadCloser, error) {
	a := m.Attachment
	if a == nil {
		return nil, export.ErrNotAvailable
	}
	if a.Path != "" {
		r, err := os.Open(a.Path)
		if !errors.Is(err, fs.ErrNotExist) {
			return r, err
		}
	}
	if f.dl == nil {
		return nil, export.ErrNotAvailable
	}
	path, err := f.dl.Download(ctx, m.ID, f.dir, nil)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		fmt.Fprintf(f.warn, "hush: the file of message %s is left out: %v\n", m.ID, explain(err))
		return nil, export.ErrNotAvailable
	}
	r, err := os.Open(path)
	if err != nil || filepath.Dir(path) != f.dir {
		return r, err // a file kept on this device is never removed
	}
	return removeOnClose{r}, nil
}

// removeOnClose deletes a file fetched only for the export once it has
// been copied, so the export needs disk for one attachment at a time.
type removeOnClose struct{ *os.File }

func (r removeOnClose) Close() error {
	err := r.File.Close()
	os.Remove(r.Name())
	return err
}

// writeFileAtomically writes to a temporary file next to path, readable
// by the owner only, and renames it over path once complete, so that a
// failed or interrupted export leaves no partial archive behind.
func writeFileAtomically(path string, write func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".hush-export-*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 256<<10)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
