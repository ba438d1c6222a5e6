package cli

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/internal/export"
)

// TestExportScript runs the export scripts in testdata/export against a
// real server, with zipcontains to look inside the archives.
func TestExportScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/export",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"hushserver":  cmdHushServer,
			"zipcontains": cmdZipContains,
			"sendfile":    cmdSendFile,
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("HUSH_PASSPHRASE", "")
			env.Setenv("XDG_DATA_HOME", filepath.Join(env.WorkDir, "xdg"))
			return nil
		},
	})
}

// zipcontains ZIP ENTRY [REGEXP] checks that the archive has the entry
// and, with REGEXP, that the entry's content matches it. With ! it checks
// the opposite of the last condition given.
func cmdZipContains(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: zipcontains zip entry [regexp]")
	}
	zr, err := zip.OpenReader(ts.MkAbs(args[0]))
	ts.Check(err)
	defer zr.Close()
	f, err := zr.Open(args[1])
	if len(args) == 2 {
		if neg && err == nil {
			ts.Fatalf("%s has an entry %s", args[0], args[1])
		}
		if !neg && err != nil {
			ts.Fatalf("%s: %v", args[0], err)
		}
		return
	}
	ts.Check(err)
	defer f.Close()
	b, err := io.ReadAll(f)
	ts.Check(err)
	re, err := regexp.Compile(args[2])
	ts.Check(err)
	if re.Match(b) == neg {
		ts.Fatalf("%s in %s: match of %q is %v\n%s", args[1], args[0], args[2], !neg, b)
	}
}

// sendfile HOME USER FILE sends FILE to USER from the profile in HOME
// (passphrase from $HUSH_PASSPHRASE) through the client library.
func cmdSendFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: sendfile home user file")
	}
	ctx := context.Background()
	cl, err := hush.Open(ctx, hush.Options{Home: ts.MkAbs(args[0]), Passphrase: []byte(ts.Getenv("HUSH_PASSPHRASE"))})
	ts.Check(err)
	defer cl.Close()
	_, err = cl.SendFile(ctx, args[1], ts.MkAbs(args[2]), nil)
	ts.Check(err)
}

func TestLocalFilesOpensDownloadedAttachments(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "photo.jpg")
	if err := os.WriteFile(path, []byte("jpeg bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	open := func(a *hush.Attachment) (string, error) {
		r, err := (&localFiles{}).Open(context.Background(), hush.Message{ID: "m", Attachment: a})
		if err != nil {
			return "", err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		return string(b), err
	}
	if got, err := open(&hush.Attachment{Name: "photo.jpg", Path: path}); err != nil || got != "jpeg bytes" {
		t.Errorf("downloaded file: %q, %v", got, err)
	}
	for name, a := range map[string]*hush.Attachment{
		"no attachment":      nil,
		"not downloaded yet": {Name: "x"},
		"removed since":      {Name: "x", Path: filepath.Join(dir, "gone")},
	} {
		if _, err := open(a); !errors.Is(err, export.ErrNotAvailable) {
			t.Errorf("%s: got %v, want ErrNotAvailable", name, err)
		}
	}
}

func TestWriteFileAtomicallyLeavesNothingOnFailure(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "chat.zip")
	if err := os.WriteFile(out, []byte("previous"), 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("interrupted")
	err := writeFileAtomically(out, func(w io.Writer) error {
		w.Write([]byte("half an archive"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the writer's error", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "previous" {
		t.Errorf("a failed export replaced the file: %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary file left behind: %v", ents)
	}
	if err := writeFileAtomically(out, func(w io.Writer) error { _, err := w.Write([]byte("new")); return err }); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if b, _ := os.ReadFile(out); err != nil || string(b) != "new" || fi.Mode().Perm() != 0o600 {
		t.Errorf("after a good export: %q, mode %v, %v", b, fi.Mode(), err)
	}
}

// fakeDownloader stands in for the client's Download.
type fakeDownloader struct {
	files map[string]string // message id → content
	keep  string            // a path returned as already downloaded
	calls int
}

func (d *fakeDownloader) Download(_ context.Context, id, dir string, _ func(done, total int64)) (string, error) {
	d.calls++
	if d.keep != "" {
		return d.keep, nil
	}
	content, ok := d.files[id]
	if !ok {
		return "", fmt.Errorf("%w: chunk 3", hush.ErrIntegrity)
	}
	p := filepath.Join(dir, id+".bin")
	return p, os.WriteFile(p, []byte(content), 0o600)
}

func TestLocalFilesFetchesMissingAttachmentsForTheExport(t *testing.T) {
	dir := t.TempDir()
	var warn strings.Builder
	dl := &fakeDownloader{files: map[string]string{"m1": "fetched bytes"}}
	lf := &localFiles{dl: dl, dir: dir, warn: &warn}
	ctx := context.Background()
	att := &hush.Attachment{Name: "a.txt", Path: filepath.Join(dir, "removed-by-user")}
	r, err := lf.Open(ctx, hush.Message{ID: "m1", Attachment: att})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	if err := r.Close(); err != nil || string(b) != "fetched bytes" {
		t.Fatalf("got %q, %v", b, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a file fetched for the export outlived it: %v", ents)
	}
	if _, err := lf.Open(ctx, hush.Message{ID: "m2", Attachment: &hush.Attachment{Name: "b"}}); !errors.Is(err, export.ErrNotAvailable) {
		t.Errorf("failed download: got %v, want ErrNotAvailable", err)
	}
	if !strings.Contains(warn.String(), "message m2 is left out") || !strings.Contains(warn.String(), "verification") {
		t.Errorf("the failed download was not reported: %q", warn.String())
	}
	kept := filepath.Join(t.TempDir(), "kept.txt")
	os.WriteFile(kept, []byte("mine"), 0o600)
	dl.keep = kept
	r, err = lf.Open(ctx, hush.Message{ID: "m3", Attachment: &hush.Attachment{Name: "kept.txt"}})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("the export removed a file kept on this device: %v", err)
	}
}
