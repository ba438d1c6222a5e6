package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/internal/bench"
	"github.com/hush-chat/hush/internal/textsafe"
)

func newSendFileCmd(pf *profileFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "send-file <user|#group> <path>",
		Short: "Send a file, encrypted end to end (run it again to resume an interrupted upload)",
		Args:  cobra.ExactArgs(2),
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, args []string) error {
			ctx, stop := withSignals(c.Context())
			defer stop()
			bar := newTransferBar(c.ErrOrStderr(), "sending")
			send := cl.SendFile
			if g, ok := strings.CutPrefix(args[0], "#"); ok {
				send = func(ctx context.Context, _, path string, progress func(done, total int64)) (*hush.Message, error) {
					return cl.Group(g).SendFile(ctx, path, progress)
				}
			}
			m, err := send(ctx, args[0], args[1], bar.update)
			bar.finish(err)
			if err != nil {
				if ctx.Err() != nil {
					return errors.New("interrupted: run the same command again to resume the upload")
				}
				if errors.Is(err, hush.ErrTooLarge) {
					// Not the text limit explainSend describes: the server's blob limit.
					return fmt.Errorf("%v; the server's operator sets this limit (max_blob_size)", err)
				}
				return explainSend(err, args[0])
			}
			fmt.Fprintf(c.OutOrStdout(), "sent %s (%s) to %s as %s\n", textsafe.Line(m.Attachment.Name), humanBytes(m.Attachment.Size), textsafe.Line(args[0]), m.ID)
			return nil
		}),
	}
}

func newFilesCmd(pf *profileFlags) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "files",
		Short: "List the files you received and sent (hush sync fetches new ones)",
		Args:  cobra.NoArgs,
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, _ []string) error {
			fs, err := cl.Files(c.Context())
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(c.OutOrStdout())
				for i := range fs {
					if err := enc.Encode(jsonFile(&fs[i])); err != nil {
						return err
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 0, 2, ' ', 0)
			for i := range fs {
				j := jsonFile(&fs[i])
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", j.ID, textsafe.Line(j.From), textsafe.Line(j.Name), humanBytes(j.Size), j.State)
			}
			return tw.Flush()
		}),
	}
	c.Flags().BoolVar(&asJSON, "json", false, "one JSON object per line (id, from, to, name, size, state, path)")
	return c
}

// fileLine is a row of hush files.
type fileLine struct {
	ID    string `json:"id"`
	From  string `json:"from"`
	To    string `json:"to"`
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	State string `json:"state"` // sent, sending, failed, new, downloaded
	Path  string `json:"path,omitempty"`
}

func jsonFile(m *hush.Message) fileLine {
	a := m.Attachment
	l := fileLine{ID: m.ID, From: m.From, To: m.To, Name: a.Name, Size: a.Size, State: m.State.String(), Path: a.Path}
	if !m.Outgoing {
		l.State = "new"
		if a.Path != "" {
			l.State = "downloaded"
		}
	}
	return l
}

func newGetCmd(pf *profileFlags) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "get <id|name> [-o path]",
		Short: "Download, decrypt and verify a received file (run it again to resume)",
		Long: `Download a file listed by hush files (an unambiguous prefix of its id, or
the name of a received file, is enough) into the current directory, or to -o (a file name, or an existing
directory). The file appears under its final name only once it is complete and
its SHA-256 matches the one the sender put in the encrypted message.`,
		Args: cobra.ExactArgs(1),
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, args []string) error {
			ctx, stop := withSignals(c.Context())
			defer stop()
			id, err := resolveFileID(c, cl, args[0])
			if err != nil {
				return err
			}
			bar := newTransferBar(c.ErrOrStderr(), "receiving")
			var path string
			if fi, serr := os.Stat(out); out == "" || (serr == nil && fi.IsDir()) {
				path, err = cl.Download(ctx, id, out, bar.update)
			} else {
				path, err = cl.DownloadTo(ctx, id, out, bar.update)
			}
			bar.finish(err)
			if err != nil {
				if ctx.Err() != nil {
					return errors.New("interrupted: run the same command again to resume the download")
				}
				return explain(err)
			}
			fmt.Fprintln(c.OutOrStdout(), textsafe.Line(path))
			return nil
		}),
	}
	c.Flags().StringVarP(&out, "output", "o", "", "file (or directory) to write")
	return c
}

// resolveFileID finds the one file message whose id starts with prefix.
func resolveFileID(c *cobra.Command, cl *hush.Client, prefix string) (string, error) {
	fs, err := cl.Files(c.Context())
	if err != nil {
		return "", err
	}
	var found []string
	for _, m := range fs {
		if strings.HasPrefix(m.ID, strings.ToLower(prefix)) || (!m.Outgoing && m.Attachment.Name == prefix) {
			found = append(found, m.ID)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) == 0:
		return "", fmt.Errorf("no file %s (hush files lists them; hush sync fetches new ones)", prefix)
	}
	return "", usageError{fmt.Errorf("%d files match %s: give more of the id", len(found), prefix)}
}

// transferBar draws a progress bar (size, rate, ETA) on w, but only when w
// is a terminal or the transfer has been running for over a second: quick
// transfers in scripts stay quiet.
type transferBar struct {
	w     io.Writer
	desc  string
	tty   bool
	start time.Time
	bar   *progressbar.ProgressBar
}

func newTransferBar(w io.Writer, desc string) *transferBar {
	f, ok := w.(*os.File)
	return &transferBar{w: w, desc: desc, tty: ok && term.IsTerminal(int(f.Fd())), start: time.Now()}
}

func (b *transferBar) update(done, total int64) {
	if b.bar == nil {
		if !b.tty && time.Since(b.start) < time.Second {
			return
		}
		b.bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(b.w), progressbar.OptionSetDescription(b.desc),
			progressbar.OptionShowBytes(true), progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionFullWidth(),
			progressbar.OptionShowElapsedTimeOnFinish())
	}
	b.bar.Set64(done)
}

func (b *transferBar) finish(err error) {
	if b.bar == nil {
		return
	}
	if err == nil {
		b.bar.Finish()
	}
	fmt.Fprintln(b.w)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func newBenchFilesCmd() *cobra.Command {
	var (
		asJSON bool
		sizeMB int64
	)
	c := &cobra.Command{
		Use:   "files",
		Short: "Measure file upload and download through an in-process server",
		Long: `Send one file between two users through an in-process hush server (SQLite in a
temporary directory): the upload is read, hashed, encrypted and uploaded; the
download is fetched, decrypted, verified and written.

With --json, print one JSON object with upload_mbps, download_mbps (MB = 10^6
bytes of file per second), size_bytes and cores.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if sizeMB < 1 {
				return usageError{errors.New("--size-mib must be at least 1")}
			}
			o := bench.FilesOptions{Size: sizeMB << 20}
			if !asJSON {
				o.Progress = func(s string) { fmt.Fprintln(c.ErrOrStderr(), s+"…") }
			}
			r, err := bench.Files(c.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(c.OutOrStdout()).Encode(r)
			}
			fmt.Fprintf(c.OutOrStdout(), "upload %.0f MB/s, download %.0f MB/s (target ≥ 200 each); %d MiB file, %d cores\n",
				r.UploadMBps, r.DownloadMBps, r.SizeBytes>>20, r.Cores)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	c.Flags().Int64Var(&sizeMB, "size-mib", 256, "file size in MiB")
	return c
}
