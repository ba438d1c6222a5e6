package hush

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGroupFileAndMemo: a file and a long text sent to a group of three are
// uploaded once and read by both other members: the file downloads and
// verifies, the memo arrives as text.
func TestGroupFileAndMemo(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob", "carol")
	alice, bob, carol := cs[0], cs[1], cs[2]
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob", "carol"}); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "report.bin")
	sum := writeRandomFile(t, src, 2*transferPlain+12345, 7) // three transfer chunks
	fm, err := alice.Group("team").SendFile(ctx, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fm.Peer != "#team" || fm.Attachment == nil || fm.Attachment.Memo || fm.Attachment.Name != "report.bin" {
		t.Fatalf("sent %+v", fm)
	}
	long := strings.Repeat("a memo for the whole team. ", 2000) // 54 KB
	mm, err := alice.Group("team").Send(ctx, long)
	if err != nil {
		t.Fatal(err)
	}
	if mm.Attachment == nil || !mm.Attachment.Memo || mm.Text != long {
		t.Fatalf("long group text not sent as a memo: %+v", mm.Attachment)
	}

	paths := map[string]string{}
	for _, c := range []*Client{bob, carol} {
		ms, err := c.Sync(ctx)
		if err != nil || len(ms) != 2 {
			t.Fatalf("%s sync: %d messages, %v", c.Username(), len(ms), err)
		}
		f, memo := ms[0], ms[1]
		if f.Peer != "#team" || f.From != "alice" || f.Attachment == nil || f.Attachment.Name != "report.bin" ||
			f.Attachment.Size != 2*transferPlain+12345 || f.ID != fm.ID {
			t.Fatalf("%s got file message %+v", c.Username(), f)
		}
		if memo.Peer != "#team" || memo.Text != long || memo.Attachment == nil || !memo.Attachment.Memo {
			t.Fatalf("%s got memo of %d bytes, attachment %+v", c.Username(), len(memo.Text), memo.Attachment)
		}
		fs, err := c.Files(ctx)
		if err != nil || len(fs) != 1 || fs[0].ID != fm.ID {
			t.Fatalf("%s files: %+v %v", c.Username(), fs, err)
		}
		p, err := c.Download(ctx, fm.ID, t.TempDir(), nil)
		if err != nil {
			t.Fatalf("%s download: %v", c.Username(), err)
		}
		if got := fileSum(t, p); !bytes.Equal(got, sum) || filepath.Base(p) != "report.bin" {
			t.Fatalf("%s downloaded %s with another digest", c.Username(), p)
		}
		paths[c.Username()] = p
		h, err := c.History(ctx, "#team", 0)
		if err != nil || len(h) != 2 || h[1].Text != long || h[0].Attachment == nil || h[0].Attachment.Path != p {
			t.Fatalf("%s history: %+v %v", c.Username(), h, err)
		}
	}
	// Both other member devices reported the file: the server deleted it.
	// A second download elsewhere still works from the verified copy.
	again, err := bob.Download(ctx, fm.ID, t.TempDir(), nil)
	if err != nil {
		t.Fatalf("bob's second download should reuse his verified copy: %v", err)
	}
	if got := fileSum(t, again); !bytes.Equal(got, sum) || again == paths["bob"] {
		t.Fatalf("second download %s (first %s) is not a fresh verified copy", again, paths["bob"])
	}
	// With the local copy gone too, the server's answer is ErrFileGone.
	if err := os.Remove(paths["carol"]); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.DownloadTo(ctx, fm.ID, filepath.Join(t.TempDir(), "again"), nil); !errors.Is(err, ErrFileGone) {
		t.Fatalf("download of a deleted blob: %v, want ErrFileGone", err)
	}
}

// TestGroupFileNeedsAGroup: '#name' is a group, never a user of that name,
// and a group with nobody else in it gets no blob.
func TestGroupFileNeedsAGroup(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob")
	alice := cs[0]
	src := filepath.Join(t.TempDir(), "f.txt")
	if err := os.WriteFile(src, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Group("nowhere").SendFile(ctx, src, nil); !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("file to an unknown group: %v", err)
	}
	if _, err := alice.Group("nowhere").Send(ctx, strings.Repeat("x", MemoThreshold+1)); !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("memo to an unknown group: %v", err)
	}
	if _, err := alice.CreateGroup(ctx, "solo", GroupPrivate, nil); err != nil {
		t.Skipf("a group of one is not allowed here: %v", err)
	}
	if _, err := alice.Group("solo").SendFile(ctx, src, nil); err == nil {
		t.Fatal("a file to a group with nobody else was uploaded")
	}
	if _, err := alice.Group("solo").Send(ctx, strings.Repeat("x", MaxMemo+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized group memo: %v", err)
	}
}
