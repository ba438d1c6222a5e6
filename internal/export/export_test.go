package export

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hush-chat/hush"
)

var exported = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// memFiles serves attachments from memory; absent ids are not available.
type memFiles map[string][]byte

func (f memFiles) Open(_ context.Context, m hush.Message) (io.ReadCloser, error) {
	b, ok := f[m.ID]
	if !ok {
		return nil, fmt.Errorf("message %s: %w", m.ID, ErrNotAvailable)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func msg(id, from string, out bool, sent time.Time, text string) hush.Message {
	m := hush.Message{ID: id, From: from, Text: text, SentAt: sent, Outgoing: out, State: hush.StateReceived}
	if out {
		m.State = hush.StateSent
	}
	return m
}

func withFile(m hush.Message, name string, size int64) hush.Message {
	m.Attachment = &hush.Attachment{BlobID: "blob-" + m.ID, Name: name, Size: size}
	return m
}

// sample is a conversation with text, a hostile message, attachments with
// hostile and clashing names and one attachment that is not downloaded.
func sample() (Conversation, memFiles) {
	t0 := time.Date(2026, 3, 1, 23, 30, 0, 0, time.FixedZone("X", -5*3600)) // 2026-03-02 04:30 UTC
	ms := []hush.Message{
		msg("m1", "alice", true, t0, "hi bob"),
		msg("m2", "bob", false, t0.Add(time.Minute), `<script>alert("x")</script> & <b>bold</b>`),
		withFile(msg("m3", "bob", false, t0.Add(2*time.Minute), ""), "../../etc/passwd", 11),
		withFile(msg("m4", "alice", true, t0.Add(3*time.Minute), "the page"), "index.html", 20),
		withFile(msg("m5", "bob", false, t0.Add(4*time.Minute), ""), "Photo.JPG", 3),
		withFile(msg("m6", "bob", false, t0.Add(5*time.Minute), ""), "photo.jpg", 3),
		withFile(msg("m7", "bob", false, t0.Add(6*time.Minute), "big one"), "film.mkv", 1<<30),
		withFile(msg("m8", "bob", false, t0.Add(7*time.Minute), ""), "evil\u202egpj.exe\x00\n", 4),
	}
	ms[3].State = hush.StateFailed
	files := memFiles{
		"m3": []byte("root:x:0:0\n"),
		"m4": []byte("<html>not it</html>\n"),
		"m5": []byte("one"),
		"m6": []byte("two"),
		"m8": []byte("MZ\x90\x00"),
	}
	return Conversation{Self: "alice", Peer: "bob", Messages: ms, Exported: exported}, files
}

// archive writes c and opens the result.
func archive(t *testing.T, c Conversation, files Files) (*zip.Reader, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(context.Background(), &buf, c, files); err != nil {
		t.Fatalf("Write: %v", err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatalf("the export is not a ZIP: %v", err)
	}
	return zr, buf.Bytes()
}

func entry(t *testing.T, zr *zip.Reader, name string) []byte {
	t.Helper()
	f, err := zr.Open(name)
	if err != nil {
		t.Fatalf("entry %s: %v", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("entry %s: %v", name, err)
	}
	return b
}

func TestIndexListsMessagesInOrderWithSenderAndUTCTime(t *testing.T) {
	c, files := sample()
	zr, _ := archive(t, c, files)
	page := string(entry(t, zr, "index.html"))
	if !strings.Contains(page, "Conversation between alice and bob") || !strings.Contains(page, "2026-03-04 05:06:07 UTC") {
		t.Errorf("title or export time missing:\n%s", page)
	}
	pos := 0
	for i, m := range c.Messages {
		want := fmt.Sprintf(`<span class="from">%s</span> <time class="time">%s</time>`,
			m.From, m.SentAt.UTC().Format("2006-01-02 15:04:05 UTC"))
		at := strings.Index(page[pos:], want)
		if at < 0 {
			t.Fatalf("message %d (%s at %s) missing or out of order", i, m.From, m.SentAt.UTC())
		}
		pos += at + len(want)
	}
	if !strings.Contains(page, "2026-03-02 04:30:00 UTC") {
		t.Error("times are not shown in UTC")
	}
	for _, s := range []string{`<span class="state">sent</span>`, `<span class="state">failed</span>`, ">hi bob<"} {
		if !strings.Contains(page, s) {
			t.Errorf("page lacks %q", s)
		}
	}
	if strings.Count(page, `class="state"`) != 2 {
		t.Error("delivery state should be shown for the two outgoing messages only")
	}
}

// Security regression: message text is attacker-controlled and must be
// shown as text, never run or rendered as markup.
func TestIndexEscapesMessageText(t *testing.T) {
	c, files := sample()
	zr, _ := archive(t, c, files)
	page := string(entry(t, zr, "index.html"))
	if strings.Contains(page, "<script") || strings.Contains(page, "<b>") {
		t.Fatalf("markup from a message reached the page:\n%s", page)
	}
	if !strings.Contains(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;") {
		t.Errorf("the hostile message is not shown as escaped text:\n%s", page)
	}
	if !strings.Contains(page, "default-src 'none'") {
		t.Error("the page has no Content-Security-Policy")
	}
}

var hrefRE = regexp.MustCompile(`href="([^"]*)"`)

func TestLinksPointAtIncludedFilesWithOriginalBytes(t *testing.T) {
	c, files := sample()
	zr, _ := archive(t, c, files)
	page := string(entry(t, zr, "index.html"))
	links := hrefRE.FindAllStringSubmatch(page, -1)
	if len(links) != len(files) {
		t.Fatalf("%d links, want one per available attachment (%d)", len(links), len(files))
	}
	// Links appear in message order, so they pair with the available
	// attachments in order.
	var ids []string
	for _, m := range c.Messages {
		if _, ok := files[m.ID]; ok {
			ids = append(ids, m.ID)
		}
	}
	for i, l := range links {
		name, err := url.PathUnescape(l[1])
		if err != nil || !strings.HasPrefix(name, "files/") {
			t.Fatalf("link %q does not point into files/", l[1])
		}
		if got := entry(t, zr, name); !bytes.Equal(got, files[ids[i]]) {
			t.Errorf("%s holds %q, want the attachment of %s %q", name, got, ids[i], files[ids[i]])
		}
	}
}

// Security regression: a sender chooses the file name; it must not leave
// files/, replace index.html, or hide its real extension.
func TestHostileFileNamesAreNeutralized(t *testing.T) {
	c, files := sample()
	zr, _ := archive(t, c, files)
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Name == "index.html" {
			continue
		}
		rest, ok := strings.CutPrefix(f.Name, "files/")
		if !ok || rest == "" || strings.ContainsAny(rest, "/\\\x00\n\u202e") || strings.HasPrefix(rest, ".") {
			t.Errorf("unsafe entry name %q", f.Name)
		}
	}
	want := []string{"files/passwd", "files/index.html", "files/Photo.JPG", "files/photo (2).jpg", "files/evilgpj.exe", "index.html"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("entries %q, want %q", names, want)
	}
	page := string(entry(t, zr, "index.html"))
	if !strings.Contains(page, "Conversation between") {
		t.Error("an attachment named index.html replaced the page")
	}
	if strings.ContainsAny(page, "\u202e\x00") || strings.Contains(page, "etc/passwd") {
		t.Error("the page shows a hostile raw file name instead of the stored one")
	}
	if !strings.Contains(page, `<a href="files/photo%20%282%29.jpg">photo (2).jpg</a>`) {
		t.Error("a link does not show the name it points at")
	}
}

func TestMissingAttachmentSaysNotDownloaded(t *testing.T) {
	c, files := sample()
	zr, _ := archive(t, c, files)
	page := string(entry(t, zr, "index.html"))
	if !strings.Contains(page, "film.mkv <span class=\"note\">(1.0 GiB, not downloaded)</span>") {
		t.Errorf("the missing attachment is not reported:\n%s", page)
	}
	if strings.Count(page, "not downloaded") != 1 {
		t.Error("only film.mkv is missing")
	}
}

func TestWithoutFilesOnlyTheIndex(t *testing.T) {
	c, _ := sample()
	zr, _ := archive(t, c, nil)
	if len(zr.File) != 1 || zr.File[0].Name != "index.html" {
		t.Fatalf("entries %v, want index.html only", zr.File)
	}
	page := string(entry(t, zr, "index.html"))
	if strings.Count(page, "not included in this export") != 6 || strings.Contains(page, "href=") {
		t.Errorf("attachments should be listed as not included, without links:\n%s", page)
	}
}

func TestMemoWithTextIsShownAsText(t *testing.T) {
	long := strings.Repeat("a long memo ", 100)
	m := withFile(msg("m1", "bob", false, exported, long), "memo.txt", int64(len(long)))
	m.Attachment.Memo = true
	pending := withFile(msg("m2", "bob", false, exported, ""), "", 5000)
	pending.Attachment.Memo = true
	c := Conversation{Self: "alice", Peer: "bob", Messages: []hush.Message{m, pending}, Exported: exported}
	zr, _ := archive(t, c, memFiles{"m1": []byte("should not be asked for")})
	page := string(entry(t, zr, "index.html"))
	if len(zr.File) != 1 || !strings.Contains(page, long) {
		t.Errorf("a fetched memo should be shown inline, not as a file: %v", zr.File)
	}
	if !strings.Contains(page, "(unnamed file) <span class=\"note\">(4.9 KiB, not downloaded)") {
		t.Errorf("a memo not fetched should say so:\n%s", page)
	}
}

func TestSameInputSameBytes(t *testing.T) {
	c, files := sample()
	_, a := archive(t, c, files)
	_, b := archive(t, c, files)
	if !bytes.Equal(a, b) {
		t.Fatal("two exports of the same conversation differ")
	}
	zr, _ := archive(t, c, files)
	for _, f := range zr.File {
		if !f.Modified.Equal(exported) {
			t.Errorf("%s stamped %v, want the export time %v", f.Name, f.Modified, exported)
		}
	}
}

// countWriter counts what reached the destination.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// watchedReader serves size incompressible bytes and records how much of
// the archive had been written when the last byte was served.
type watchedReader struct {
	rnd       *rand.ChaCha8
	left      int64
	out       *countWriter
	atLastEnd int64
}

func (r *watchedReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.left)]
	r.rnd.Read(p)
	r.left -= int64(len(p))
	if r.left == 0 {
		r.atLastEnd = r.out.n
	}
	return len(p), nil
}

func (r *watchedReader) Close() error { return nil }

type oneFile struct{ r *watchedReader }

func (f oneFile) Open(context.Context, hush.Message) (io.ReadCloser, error) { return f.r, nil }

// An attachment is streamed: most of it is in the archive before the
// source has been read to the end.
func TestAttachmentIsStreamed(t *testing.T) {
	const size = 8 << 20
	out := &countWriter{}
	r := &watchedReader{rnd: rand.NewChaCha8([32]byte{1}), left: size, out: out}
	c := Conversation{Self: "a", Peer: "b", Exported: exported,
		Messages: []hush.Message{withFile(msg("m1", "b", false, exported, ""), "big.bin", size)}}
	if err := Write(context.Background(), out, c, oneFile{r}); err != nil {
		t.Fatal(err)
	}
	if r.atLastEnd < size/2 {
		t.Fatalf("only %d bytes written before the %d-byte attachment was read to the end: buffered, not streamed", r.atLastEnd, size)
	}
}

type failingFiles struct{ err error }

func (f failingFiles) Open(context.Context, hush.Message) (io.ReadCloser, error) { return nil, f.err }

func TestErrorsStopTheExport(t *testing.T) {
	c, files := sample()
	boom := errors.New("disk on fire")
	if err := Write(context.Background(), io.Discard, c, failingFiles{boom}); !errors.Is(err, boom) {
		t.Errorf("Files error: got %v, want it wrapped", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Write(ctx, io.Discard, c, files); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v, want context.Canceled", err)
	}
	if err := Write(ctx, io.Discard, Conversation{Self: "a", Peer: "b"}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled, no attachments: got %v, want context.Canceled", err)
	}
}

// A data message carries an application's bytes: the page shows a marker
// with its size, never the bytes (which may hold markup).
func TestDataMessageIsShownAsMarker(t *testing.T) {
	c := Conversation{Self: "alice", Peer: "bob", Exported: time.Unix(0, 0), Messages: []hush.Message{
		{ID: "01", From: "bob", SentAt: time.Unix(1, 0), Data: []byte("<script>x</script>")}}}
	zr, _ := archive(t, c, memFiles{})
	page := string(entry(t, zr, "index.html"))
	if !strings.Contains(page, "[data, 18 bytes]") || strings.Contains(page, "script&gt;") {
		t.Fatalf("data message on the page:\n%s", page)
	}
}
