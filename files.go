package hush

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/stream"
)

// Files and memos (doc/SPEC.md §11, kind file). A file is encrypted with
// the file stream format under a fresh key; the stream's chunks (without
// its 17-byte header, which travels in the file message) are uploaded as
// a blob in transfer chunks of 16 stream chunks, so every transfer chunk
// can be sealed, uploaded, fetched and opened on its own: uploads and
// downloads resume at any transfer chunk, and memory stays at a few
// transfer chunks whatever the file size.
const (
	// MemoThreshold is the longest text Send puts inline in a message;
	// a longer one travels as a memo (an encrypted attachment the
	// recipient fetches on receipt and shows as text).
	MemoThreshold = 16 << 10
	// MaxMemo is the longest memo.
	MaxMemo = 16 << 20

	transferStreamChunks = 16
	// transferChunk is the blob's chunk_size: 16 encrypted stream chunks.
	transferChunk = transferStreamChunks * stream.EncryptedChunkSize
	// transferPlain is the plaintext of one full transfer chunk (1 MiB).
	transferPlain = transferStreamChunks * stream.ChunkSize
	// transferWorkers is how many transfer chunks move at once.
	transferWorkers    = 4
	secretUploadPrefix = "upload:"
)

var (
	// ErrIntegrity: a downloaded file failed verification (a chunk did
	// not authenticate, or the whole file's digest differs). Nothing is
	// exposed under the final name.
	ErrIntegrity = errors.New("file failed verification")
	// ErrUploadIncomplete: the sender has not finished uploading the file.
	ErrUploadIncomplete = errors.New("the file is not completely uploaded yet")
	// ErrFileGone: the server no longer holds the file (every recipient
	// device reported it downloaded, or it expired) and no verified copy
	// is left on this device; only the sender can send it again.
	ErrFileGone = errors.New("the file is no longer on the server")
	// ErrNoSuchFile: no file message with that id in this profile.
	ErrNoSuchFile = errors.New("no such file message")
	// ErrFileQuota: the server holds as many bytes of this account's
	// files as it allows per account (files wait there until every
	// recipient fetched them, or expire); the error says how much and
	// what to do.
	ErrFileQuota = errors.New("file refused: the server holds as much of your files as it allows")
	// ErrTooManyUploads: the account has as many unfinished uploads on
	// the server as it allows.
	ErrTooManyUploads = errors.New("file refused: too many unfinished uploads")
	// ErrUploadRate: the server kept refusing chunks for the account's
	// upload rate; the upload resumes when run again.
	ErrUploadRate = errors.New("the server limits how fast this account uploads")
)

// SendFile encrypts the file at path, uploads it to the server as a blob
// and sends user `to` a file message carrying the blob id, the file key and
// the file's SHA-256. The file is streamed from disk, never held in memory.
// An interrupted SendFile of the same file (same path, size and
// modification time) to the same user resumes: only the chunks the server
// lacks are sent. progress, if not nil, is called with plaintext bytes
// done and total, from one goroutine at a time.
func (c *Client) SendFile(ctx context.Context, to, path string, progress func(done, total int64)) (*Message, error) {
	if err := checkUserName(to); err != nil {
		return nil, err
	}
	return c.sendFile(ctx, to, path, progress)
}

// SendFileFrom is SendFile for size bytes read from r, sent under name
// (its base name, made safe, is what the recipient sees): a file the
// program has in memory, a pipe or a network stream. r is read once, in
// order; an interrupted SendFileFrom starts again. Bytes too are sent this
// way (bytes.NewReader): a text message carries UTF-8 text only.
func (c *Client) SendFileFrom(ctx context.Context, to, name string, r io.Reader, size int64, progress func(done, total int64)) (*Message, error) {
	if err := checkUserName(to); err != nil {
		return nil, err
	}
	return c.sendFileFrom(ctx, to, name, r, size, progress)
}

func (c *Client) sendFileFrom(ctx context.Context, to, name string, r io.Reader, size int64, progress func(done, total int64)) (*Message, error) {
	if to == c.prof.Username {
		return nil, errors.New("sending to yourself is not supported yet")
	}
	if size < 0 || size > MaxFileSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, size)
	}
	clean := sanitizeFileName(name)
	recipients, err := c.recipientDevices(ctx, to)
	if err != nil {
		return nil, err
	}
	src := &seqReaderAt{r: r}
	att, err := c.upload(ctx, src, size, "", recipients, progress)
	if err != nil {
		return nil, err
	}
	if n, _ := io.ReadFull(r, make([]byte, 1)); n != 0 {
		return nil, fmt.Errorf("the reader holds more than the %d bytes announced: nothing was sent", size)
	}
	att.Name = clean
	return c.sendAttachment(ctx, to, "", att)
}

// seqReaderAt serves the in-order ReadAt calls of pushChunks from a
// plain reader.
type seqReaderAt struct {
	r   io.Reader
	off int64
}

func (s *seqReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off != s.off {
		return 0, fmt.Errorf("reading at %d, not at %d: the reader cannot seek", off, s.off)
	}
	n, err := io.ReadFull(s.r, p)
	s.off += int64(n)
	return n, err
}

func (c *Client) sendFile(ctx context.Context, to, path string, progress func(done, total int64)) (*Message, error) {
	if to == c.prof.Username {
		return nil, errors.New("sending to yourself is not supported yet")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, fi.Size())
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	recipients, err := c.recipientDevices(ctx, to)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d\x00%d", to, abs, fi.Size(), fi.ModTime().UnixNano()))
	stateName := secretUploadPrefix + hex.EncodeToString(sum[:])
	att, err := c.upload(ctx, f, fi.Size(), stateName, recipients, progress)
	if err != nil {
		return nil, err
	}
	att.Name, att.Path = sanitizeFileName(abs), abs
	m, err := c.sendAttachment(ctx, to, "", att)
	if err != nil {
		return nil, err
	}
	// The blob now belongs to the recipient: a later send of the same
	// file uploads a new one.
	if err := c.st.Update(ctx, func(tx *localstore.Tx) error { return tx.PutSecret(stateName, []byte("{}")) }); err != nil {
		return m, err
	}
	return m, nil
}

// sendMemo sends a long text as a memo attachment.
func (c *Client) sendMemo(ctx context.Context, to, text string) (*Message, error) {
	if len(text) > MaxMemo {
		return nil, fmt.Errorf("%w: %d bytes, at most %d in a memo", ErrTooLarge, len(text), MaxMemo)
	}
	if to == c.prof.Username {
		return nil, errors.New("sending to yourself is not supported yet")
	}
	recipients, err := c.recipientDevices(ctx, to)
	if err != nil {
		return nil, err
	}
	att, err := c.upload(ctx, strings.NewReader(text), int64(len(text)), "", recipients, nil)
	if err != nil {
		return nil, err
	}
	att.Name, att.Memo = "memo.txt", true
	return c.sendAttachment(ctx, to, text, att)
}

// blobRecipients is who will fetch a blob, as the server counts them
// (doc/API.md §5.6): Total devices, of which the accounts in Multi fetch
// from more than one device each; every other account from one.
type blobRecipients struct {
	Total int
	Multi map[string]int
}

// newBlobRecipients counts the devices of users, one entry per device.
func newBlobRecipients(users []string) blobRecipients {
	per := make(map[string]int)
	for _, u := range users {
		per[u]++
	}
	r := blobRecipients{Total: len(users)}
	for u, n := range per {
		if n > 1 {
			if r.Multi == nil {
				r.Multi = make(map[string]int)
			}
			r.Multi[u] = n
		}
	}
	return r
}

// recipientDevices is which devices will fetch a blob sent to `to`: a
// user's devices, or for a group ("#name") every other member device the
// message is fanned out to.
func (c *Client) recipientDevices(ctx context.Context, to string) (blobRecipients, error) {
	if strings.HasPrefix(to, "#") { // groups
		_, mailboxes, users, err := c.groupMailboxes(ctx, to)
		if err != nil {
			return blobRecipients{}, err
		}
		if len(mailboxes) == 0 {
			return blobRecipients{}, fmt.Errorf("nobody else in %s can receive a file", to)
		}
		return newBlobRecipients(users), nil
	}
	rec, err := c.refreshContact(ctx, to)
	if err != nil {
		return blobRecipients{}, err
	}
	if len(rec.Devices) == 0 {
		return blobRecipients{}, fmt.Errorf("%w: %s has no usable device", ErrUnknownUser, to)
	}
	users := make([]string, len(rec.Devices))
	for i := range users {
		users[i] = to
	}
	return newBlobRecipients(users), nil
}

// sendAttachment sends a file message to a user over the pairwise
// sessions, or to a group ("#name") under the own sender key.
func (c *Client) sendAttachment(ctx context.Context, to, text string, att *attachmentRecord) (*Message, error) {
	if strings.HasPrefix(to, "#") { // groups
		return c.sendGroupApp(ctx, to, text, att)
	}
	return c.send(ctx, to, text, att)
}

// uploadState is the profile's record of an upload in progress, so that
// running the same upload again continues it (same key and header, so
// every chunk encrypts to the same bytes).
type uploadState struct {
	BlobID string `json:"blob_id,omitempty"`
	Key    []byte `json:"key,omitempty"`
	Header []byte `json:"header,omitempty"`
	Size   int64  `json:"size,omitempty"`
	// Padded: the blob holds the padded stream. An upload recorded
	// before padding existed is not resumed but started again.
	Padded bool `json:"padded,omitempty"`
}

// blobSize is the size of the blob of a stream plaintext of size bytes:
// the stream without its header.
func blobSize(size int64) int64 { return stream.EncryptedSize(size) - stream.HeaderSize }

// transferChunks is the number of transfer chunks of a stream plaintext
// of size bytes.
func transferChunks(size int64) int64 { return (blobSize(size) + transferChunk - 1) / transferChunk }

// upload encrypts src padded to paddedFileSize(size) and uploads it,
// resuming the upload recorded under stateName (none if empty), and
// returns the attachment without name.
func (c *Client) upload(ctx context.Context, src io.ReaderAt, size int64, stateName string, recipients blobRecipients, progress func(done, total int64)) (*attachmentRecord, error) {
	bs := c.blobSession()
	st, present, err := c.resumeUpload(ctx, bs, stateName, size)
	if err != nil {
		return nil, err
	}
	if st == nil {
		if st, err = c.newUpload(ctx, bs, stateName, size, recipients); err != nil {
			return nil, err
		}
	}
	var key stream.Key
	copy(key[:], st.Key)
	h, err := stream.ParseHeader(st.Header)
	if err != nil {
		return nil, err
	}
	ciph, err := stream.NewCipher(key, h)
	if err != nil {
		return nil, err
	}
	sum, err := pushChunks(ctx, bs, st.BlobID, ciph, src, size, present, progress)
	if err != nil {
		return nil, err
	}
	return &attachmentRecord{BlobID: st.BlobID, Key: st.Key, Header: st.Header, Size: size, SHA256: sum, Padded: true}, nil
}

// resumeUpload returns the recorded upload and the chunks the server holds,
// or nil when there is nothing to resume (none recorded, or the blob
// expired or does not match).
func (c *Client) resumeUpload(ctx context.Context, bs *blobSession, stateName string, size int64) (*uploadState, map[int64]bool, error) {
	if stateName == "" {
		return nil, nil, nil
	}
	var st uploadState
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		b, err := tx.GetSecret(stateName)
		if err != nil {
			return err
		}
		return decodeJSON(b, &st, "upload")
	})
	if errors.Is(err, localstore.ErrNotFound) || (err == nil && (st.BlobID == "" || st.Size != size || !st.Padded)) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var status *apiclient.BlobStatus
	err = bs.do(ctx, func(tok string) (err error) {
		status, err = c.api.BlobStatus(ctx, tok, st.BlobID)
		return err
	})
	if apiclient.IsCode(err, "not_found") {
		return nil, nil, nil // expired: start again
	}
	if err != nil {
		return nil, nil, err
	}
	if status.Size != blobSize(paddedFileSize(size)) || status.ChunkSize != transferChunk {
		return nil, nil, nil
	}
	present := make(map[int64]bool, len(status.Present))
	for _, k := range status.Present {
		present[k] = true
	}
	return &st, present, nil
}

// newUpload creates a blob under a fresh file key and header, and records
// them before any chunk is sent.
func (c *Client) newUpload(ctx context.Context, bs *blobSession, stateName string, size int64, recipients blobRecipients) (*uploadState, error) {
	key, err := stream.NewKey()
	if err != nil {
		return nil, err
	}
	h, err := stream.NewHeader()
	if err != nil {
		return nil, err
	}
	var info *apiclient.BlobInfo
	err = bs.do(ctx, func(tok string) (err error) {
		info, err = c.api.CreateBlob(ctx, tok, blobSize(paddedFileSize(size)), transferChunk, recipients.Total, recipients.Multi)
		return err
	})
	if err != nil {
		return nil, uploadRefused(err, size)
	}
	if id, err := base64.RawURLEncoding.DecodeString(info.ID); err != nil || len(id) != blobIDSize {
		return nil, errors.New("the server answered a malformed blob id")
	}
	st := &uploadState{BlobID: info.ID, Key: key[:], Header: h.Bytes(), Size: size, Padded: true}
	if stateName != "" {
		if err := c.st.Update(ctx, func(tx *localstore.Tx) error { return tx.PutSecret(stateName, encodeJSON(st)) }); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// blobSession gives blob calls a relay token, logging in again once when
// the server refuses the stored one. It is safe for concurrent use.
type blobSession struct {
	mu sync.Mutex
	t  *relayTransport
}

func (c *Client) blobSession() *blobSession {
	return &blobSession{t: &relayTransport{c: c, mailbox: identity.MailboxID(c.id.Public(), c.dev.ID())}}
}

func (b *blobSession) token(ctx context.Context, fresh bool) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.t.token(ctx, fresh)
	if err != nil {
		return "", err
	}
	return s.Token, nil
}

func (b *blobSession) do(ctx context.Context, f func(token string) error) error {
	tok, err := b.token(ctx, false)
	if err != nil {
		return err
	}
	err = f(tok)
	if apiclient.IsCode(err, "unauthorized") {
		if tok, err = b.token(ctx, true); err != nil {
			return err
		}
		err = f(tok)
	}
	return serverErr(err)
}

// progressMeter serializes progress calls from the transfer workers.
type progressMeter struct {
	mu    sync.Mutex
	done  int64
	total int64
	fn    func(done, total int64)
}

func (p *progressMeter) add(n int64) {
	if p.fn == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	p.fn(p.done, p.total)
}

// Files returns the file messages of every conversation, received and
// sent, oldest first. Memos are not listed: they read as texts.
func (c *Client) Files(ctx context.Context) ([]Message, error) {
	var out []Message
	err := c.eachFileRecord(ctx, func(_ string, r *messageRecord) bool {
		if !r.Attachment.Memo {
			out = append(out, r.public())
		}
		return true
	})
	slices.SortStableFunc(out, func(a, b Message) int { return a.ReceivedAt.Compare(b.ReceivedAt) })
	return out, err
}

// eachFileRecord calls fn for every stored message with an attachment
// until fn returns false.
func (c *Client) eachFileRecord(ctx context.Context, fn func(peer string, r *messageRecord) bool) error {
	return c.st.View(ctx, func(tx *localstore.Tx) error {
		peers, err := fileConversations(tx)
		if err != nil {
			return err
		}
		for _, peer := range peers {
			recs, err := tx.History(peer, 0)
			if err != nil {
				return err
			}
			for _, b := range recs {
				if !bytes.Contains(b, []byte(`"attachment"`)) {
					continue
				}
				var r messageRecord
				if err := decodeJSON(b, &r, "message"); err != nil {
					return err
				}
				if r.Attachment != nil && !fn(peer, &r) {
					return nil
				}
			}
		}
		return nil
	})
}

// fileConversations lists the conversations that may hold file messages:
// every contact's, and every group's ("#name", groups left included).
func fileConversations(tx *localstore.Tx) ([]string, error) {
	contacts, err := tx.ListContacts()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, cb := range contacts {
		var ct contactRecord
		if err := decodeJSON(cb, &ct, "contact"); err != nil {
			return nil, err
		}
		out = append(out, ct.Username)
	}
	groups, err := loadGroups(tx)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if p := "#" + g.Name; !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// fileRecord finds the file message with id.
func (c *Client) fileRecord(ctx context.Context, id string) (*messageRecord, error) {
	var found *messageRecord
	err := c.eachFileRecord(ctx, func(_ string, r *messageRecord) bool {
		if r.ID == id {
			found = r
		}
		return found == nil
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchFile, id)
	}
	return found, nil
}

// saveRecord stores an updated message record.
func (c *Client) saveRecord(ctx context.Context, r *messageRecord) error {
	id, err := hex.DecodeString(r.ID)
	if err != nil {
		return fmt.Errorf("client: corrupt message id: %w", err)
	}
	return c.st.Update(ctx, func(tx *localstore.Tx) error { return tx.UpdateMessage(r.Peer, id, encodeJSON(r)) })
}

// pushChunks reads src (size bytes) once, in order, hashing it, and has
// workers seal and upload every transfer chunk not in present of its
// stream padded to paddedFileSize(size). It returns the plaintext's
// SHA-256. Memory: 2 x transferWorkers plaintext buffers and one
// ciphertext buffer per worker.
func pushChunks(ctx context.Context, bs *blobSession, id string, ciph *stream.Cipher, src io.ReaderAt, size int64, present map[int64]bool, progress func(done, total int64)) ([]byte, error) {
	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	padded := paddedFileSize(size)
	n, total := transferChunks(padded), stream.NumChunks(padded)
	pm := &progressMeter{total: size, fn: progress}
	type job struct {
		k     int64
		plain []byte // the transfer chunk's stream plaintext
		file  int64  // how much of it is the file's (the rest is padding)
	}
	free := make(chan []byte, 2*transferWorkers)
	for range cap(free) {
		free <- make([]byte, transferPlain)
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range transferWorkers {
		wg.Go(func() {
			out := make([]byte, 0, transferChunk)
			for j := range jobs {
				out = sealTransfer(ciph, out[:0], j.k, j.plain, total)
				free <- j.plain[:cap(j.plain)]
				if err := putChunk(ctx, bs, id, j.k, out); err != nil {
					cancel(fmt.Errorf("uploading chunk %d: %w", j.k, err))
					continue
				}
				pm.add(j.file)
			}
		})
	}
	h := sha256.New()
	err := func() error {
		defer close(jobs)
		for k := range n {
			var buf []byte
			select {
			case buf = <-free:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			off := k * transferPlain
			m := min(transferPlain, padded-off)
			file := min(m, max(0, size-off))
			if r, err := src.ReadAt(buf[:file], off); int64(r) != file {
				return fmt.Errorf("reading the file: %w (did it shrink?)", errors.Join(err, io.ErrUnexpectedEOF))
			}
			clear(buf[file:m]) // the padding
			h.Write(buf[:file])
			if present[k] {
				free <- buf
				pm.add(file)
				continue
			}
			select {
			case jobs <- job{k, buf[:m], file}:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		return nil
	}()
	wg.Wait()
	if parent.Err() != nil {
		return nil, context.Cause(parent)
	}
	if err == nil {
		err = context.Cause(ctx)
	}
	if err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// sealTransfer appends the encryption of transfer chunk k (plaintext
// plain) to dst: stream chunks 16k … of a stream of total chunks.
func sealTransfer(c *stream.Cipher, dst []byte, k int64, plain []byte, total int64) []byte {
	first := k * transferStreamChunks
	for i := first; i < min(first+transferStreamChunks, total); i++ {
		off := (i - first) * stream.ChunkSize
		end := min(off+stream.ChunkSize, int64(len(plain)))
		dst = c.EncryptChunk(dst, uint64(i), i == total-1, plain[off:end])
	}
	return dst
}

// openTransfer appends the plaintext of encrypted transfer chunk k of a
// stream of size plaintext bytes to dst, refusing it unless it has
// exactly the expected length and every stream chunk in it authenticates
// at its index.
func openTransfer(c *stream.Cipher, dst []byte, k int64, ct []byte, size int64) ([]byte, error) {
	n, total := transferChunks(size), stream.NumChunks(size)
	want := int64(transferChunk)
	if k == n-1 {
		want = blobSize(size) - (n-1)*transferChunk
	}
	// A chunk of another length was cut, padded or taken from elsewhere.
	if int64(len(ct)) != want {
		return nil, fmt.Errorf("%w: chunk %d has %d bytes, want %d", ErrIntegrity, k, len(ct), want)
	}
	first := k * transferStreamChunks
	for i := first; i < min(first+transferStreamChunks, total); i++ {
		off := (i - first) * stream.EncryptedChunkSize
		end := min(off+stream.EncryptedChunkSize, int64(len(ct)))
		var err error
		// Each stream chunk is bound to its index and to whether it ends
		// the stream: a tampered, swapped or misplaced chunk fails here.
		if dst, err = c.DecryptChunk(dst, uint64(i), i == total-1, ct[off:end]); err != nil {
			return nil, fmt.Errorf("%w: chunk %d: %w", ErrIntegrity, k, err)
		}
	}
	return dst, nil
}

var transferBufs = sync.Pool{New: func() any { b := make([]byte, 0, transferChunk); return &b }}

// fetchChunks downloads, in parallel, transfer chunks start … of the
// attachment's blob, opens each, and passes the plaintexts to sink in
// order. It stops at the first error.
func (c *Client) fetchChunks(ctx context.Context, bs *blobSession, a *attachmentRecord, start int64, sink func(plain []byte) error, progress func(done, total int64)) error {
	ciph, err := attachmentCipher(a)
	if err != nil {
		return err
	}
	if err := c.checkBlob(ctx, bs, a); err != nil {
		return err
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		plain *[]byte
		err   error
	}
	streamSize := a.streamSize()
	n := transferChunks(streamSize)
	queue := make(chan chan result, transferWorkers)
	go func() {
		defer close(queue)
		for k := start; k < n; k++ {
			ch := make(chan result, 1)
			select {
			case queue <- ch:
			case <-ctx.Done():
				return
			}
			go func() {
				ct := transferBufs.Get().(*[]byte)
				defer transferBufs.Put(ct)
				var err error
				err = bs.do(ctx, func(tok string) (err error) {
					*ct, err = c.api.GetChunk(ctx, tok, a.BlobID, k, (*ct)[:0], transferChunk)
					return err
				})
				plain := transferBufs.Get().(*[]byte)
				if err == nil {
					var p []byte
					if p, err = openTransfer(ciph, (*plain)[:0], k, *ct, streamSize); err == nil {
						*plain, err = stripPadding(p, k, a.Size)
					}
				}
				ch <- result{plain, err}
			}()
		}
	}()
	pm := &progressMeter{done: min(start*transferPlain, a.Size), total: a.Size, fn: progress}
	var first error
	delivered := start
	for ch := range queue {
		r := <-ch
		if first == nil && r.err == nil {
			first = sink(*r.plain)
			pm.add(int64(len(*r.plain)))
			delivered++
		} else if first == nil {
			first = r.err
		}
		transferBufs.Put(r.plain)
		if first != nil {
			cancel() // the rest is drained, not used
		}
	}
	if parent.Err() != nil {
		return context.Cause(parent) // whatever failed, it failed because of this
	}
	if first == nil && delivered != n {
		first = errors.New("download stopped early") // not reached: the queue ends early only on cancel
	}
	return first
}

// checkBlob refuses a blob that is incomplete or not the shape the file
// message announced.
func (c *Client) checkBlob(ctx context.Context, bs *blobSession, a *attachmentRecord) error {
	var st *apiclient.BlobStatus
	err := bs.do(ctx, func(tok string) (err error) {
		st, err = c.api.BlobStatus(ctx, tok, a.BlobID)
		return err
	})
	if apiclient.IsCode(err, "not_found") {
		return ErrFileGone
	}
	if err != nil {
		return err
	}
	if st.Size != blobSize(a.streamSize()) || st.ChunkSize != transferChunk {
		return fmt.Errorf("%w: the server holds a blob of another size", ErrIntegrity)
	}
	if !st.Complete {
		return ErrUploadIncomplete
	}
	return nil
}

// stripPadding returns the part of the authenticated plaintext p of
// transfer chunk k that belongs to a file of size bytes, after checking
// that the rest, the padding, is all zero: a sender cannot hide data in
// it, and a padded file has one encoding.
func stripPadding(p []byte, k, size int64) ([]byte, error) {
	file := min(int64(len(p)), max(0, size-k*transferPlain))
	if !allZero(p[file:]) {
		return nil, fmt.Errorf("%w: chunk %d: the padding is not zero", ErrIntegrity, k)
	}
	return p[:file], nil
}

// putChunk uploads transfer chunk k, waiting as long as the server says
// whenever it refuses the chunk for the account's upload rate (a few
// times at most; run again, the upload resumes).
func putChunk(ctx context.Context, bs *blobSession, id string, k int64, data []byte) error {
	for attempt := 1; ; attempt++ {
		err := bs.do(ctx, func(tok string) error { return bs.t.c.api.PutChunk(ctx, tok, id, k, data) })
		var ae *apiclient.Error
		if !errors.As(err, &ae) || ae.Code != "rate_limited" {
			return err
		}
		if attempt == maxRateWaits {
			return fmt.Errorf("%w (%s): run the same command again later to resume the upload", ErrUploadRate, ae.Message)
		}
		wait := min(cmp.Or(ae.RetryAfter, time.Second), maxRateWait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// maxRateWaits and maxRateWait bound how long putChunk waits for one
// chunk: enough for any upload rate a server sets for people.
const (
	maxRateWaits = 100
	maxRateWait  = time.Minute
)

// uploadRefused turns the server's refusal of a new blob for a file of
// size bytes into an error that says what to do.
func uploadRefused(err error, size int64) error {
	var ae *apiclient.Error
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.Code {
	case "too_large":
		return fmt.Errorf("%w: the server does not take a file of %d bytes, %d once padded and encrypted (%s)",
			ErrTooLarge, size, blobSize(paddedFileSize(size)), ae.Message)
	case "quota_exceeded":
		return fmt.Errorf("%w (%s): wait until recipients have fetched earlier files, then send again", ErrFileQuota, ae.Message)
	case "too_many_uploads":
		return fmt.Errorf("%w (%s): finish one by running its send again (it resumes), then send this one", ErrTooManyUploads, ae.Message)
	}
	return err
}

func attachmentCipher(a *attachmentRecord) (*stream.Cipher, error) {
	var key stream.Key
	if len(a.Key) != len(key) {
		return nil, errors.New("client: corrupt attachment record")
	}
	copy(key[:], a.Key)
	h, err := stream.ParseHeader(a.Header)
	if err != nil {
		return nil, err
	}
	return stream.NewCipher(key, h)
}

// blobDone tells the server this device has the whole blob. It is best
// effort: a blob nobody reports is deleted when it expires.
func (c *Client) blobDone(ctx context.Context, bs *blobSession, a *attachmentRecord) {
	_ = bs.do(ctx, func(tok string) error { return c.api.BlobDone(ctx, tok, a.BlobID) })
}

// Download fetches, decrypts and verifies the file of message messageID
// into directory dir, under the name the sender gave it (made unique if a
// file of that name exists), and returns the path. With dir empty, or
// the directory a verified copy already is in, that copy is returned;
// another directory gets a copy of its own, and a new download with dir
// empty goes to the current directory. See DownloadTo.
func (c *Client) Download(ctx context.Context, messageID, dir string, progress func(done, total int64)) (string, error) {
	r, err := c.fileRecord(ctx, messageID)
	if err != nil {
		return "", err
	}
	// A copy already here (or moved into place by a download that stopped
	// before recording it) is returned when no other directory is asked
	// for: fetching again makes a copy only where one is wanted.
	here := func(p string) bool { return p != "" && (dir == "" || sameDir(filepath.Dir(p), dir)) }
	if p := r.Attachment.Path; here(p) && sameSize(p, r.Attachment.Size) {
		return p, nil // already here and verified
	}
	if p := r.Attachment.Pending; here(p) && sameFile(p, r.Attachment) {
		r.Attachment.Path = p
		return p, c.saveRecord(ctx, r)
	}
	return c.download(ctx, r, "", cmp.Or(dir, "."), progress)
}

// DownloadToWriter fetches, decrypts and verifies the file of message
// messageID and writes its plaintext to w, in order, as it arrives: to a
// response, a database or memory, without a file on this device. Every
// chunk written has authenticated; the SHA-256 of the whole file is
// checked last, so on ErrIntegrity what w received must be discarded.
// Nothing is resumed: an interrupted download starts again. When done the
// server is told this device has the file (as after DownloadTo), since
// only the program keeps it now.
func (c *Client) DownloadToWriter(ctx context.Context, messageID string, w io.Writer, progress func(done, total int64)) error {
	r, err := c.fileRecord(ctx, messageID)
	if err != nil {
		return err
	}
	a := r.Attachment
	h := sha256.New()
	if a.Path != "" && sameFile(a.Path, a) { // a verified copy on this device
		f, err := os.Open(a.Path)
		if err == nil {
			defer f.Close()
			if _, err = io.Copy(io.MultiWriter(w, h), f); err != nil {
				return err
			}
			return checkDigest(h, a)
		}
	}
	bs := c.blobSession()
	err = c.fetchChunks(ctx, bs, a, 0, func(plain []byte) error {
		h.Write(plain)
		_, err := w.Write(plain)
		return err
	}, progress)
	if err != nil {
		return err
	}
	if err := checkDigest(h, a); err != nil {
		return err
	}
	c.blobDone(ctx, bs, a)
	return nil
}

func checkDigest(h hash.Hash, a *attachmentRecord) error {
	if !bytes.Equal(h.Sum(nil), a.SHA256) {
		return fmt.Errorf("%w: the file's SHA-256 differs from the one the sender announced", ErrIntegrity)
	}
	return nil
}

// sameDir reports whether a and b name the same directory.
func sameDir(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

// sameFile reports whether the file at path is a's plaintext (its size
// and SHA-256).
func sameFile(path string, a *attachmentRecord) bool {
	if !sameSize(path, a.Size) {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false
	}
	return bytes.Equal(h.Sum(nil), a.SHA256)
}

// DownloadTo is Download to the file path (replaced if it exists).
//
// The file is written to a temporary file next to path and renamed to
// path only after every chunk authenticated and the whole file's SHA-256
// matched the one in the (end-to-end encrypted) file message: a file under
// the final name is always complete and verified. An interrupted download
// keeps the temporary file, which holds only authenticated chunks; running
// it again continues from the first missing chunk. When done the message's
// Attachment.Path is set and the server is told this device has the file.
func (c *Client) DownloadTo(ctx context.Context, messageID, path string, progress func(done, total int64)) (string, error) {
	r, err := c.fileRecord(ctx, messageID)
	if err != nil {
		return "", err
	}
	return c.download(ctx, r, path, filepath.Dir(path), progress)
}

func sameSize(path string, size int64) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Size() == size
}

// download fetches r's file into dir, to final (or, if empty, a free name
// derived from the attachment's name).
func (c *Client) download(ctx context.Context, r *messageRecord, final, dir string, progress func(done, total int64)) (string, error) {
	a := r.Attachment
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if final != "" {
		if final, err = filepath.Abs(final); err != nil {
			return "", err
		}
	}
	tmp := filepath.Join(dir, ".hush-"+r.ID+".part")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", err
	}
	defer f.Close()
	bs := c.blobSession()
	h, start, err := resumePartial(f, a.Size)
	if err != nil {
		return "", err
	}
	// A copy downloaded before is the cheapest source, and the only one
	// once every recipient reported the blob done and the server let it
	// go; the digest check below covers it as it covers the server's.
	local := start == 0 && copyLocal(f, h, a)
	if !local {
		err = c.fetchChunks(ctx, bs, a, start, func(plain []byte) error {
			h.Write(plain)
			_, err := f.Write(plain)
			return err
		}, progress)
	}
	if err != nil {
		return "", err
	}
	// The digest from inside the encrypted message is the last word: it
	// catches what chunk authentication cannot (a sender's key reused
	// across files, a partial file damaged on this disk between runs).
	if !bytes.Equal(h.Sum(nil), a.SHA256) {
		f.Close()
		os.Remove(tmp)
		return "", fmt.Errorf("%w: the file's SHA-256 differs from the one the sender announced", ErrIntegrity)
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if final == "" {
		// The name is chosen and stored first, so a download stopped right
		// after the move finds the file there (Download) rather than
		// fetching it again under another name.
		if final, err = freeName(dir, a.Name); err != nil {
			return "", err
		}
		r.Attachment.Pending = final
		if err := c.saveRecord(ctx, r); err != nil {
			return "", err
		}
		final = "" // publish takes the first free name: this one, unless another process took it
	}
	if final, err = publish(tmp, final, dir, a.Name); err != nil {
		return "", err
	}
	if local && sameSize(a.Path, a.Size) {
		return final, nil // the record keeps pointing at the first copy
	}
	r.Attachment.Path = final
	if err := c.saveRecord(ctx, r); err != nil {
		return final, err
	}
	if !local {
		c.blobDone(ctx, bs, a)
	}
	return final, nil
}

// copyLocal copies the verified earlier download of a (if it is still in
// place with the right size and digest) into the empty partial file f,
// feeding h. It reports whether it did; on false f is empty again.
func copyLocal(f *os.File, h hash.Hash, a *attachmentRecord) bool {
	if a.Path == "" || !sameSize(a.Path, a.Size) {
		return false
	}
	src, err := os.Open(a.Path)
	if err != nil {
		return false
	}
	defer src.Close()
	check := sha256.New()
	if _, err := io.Copy(check, src); err != nil || !bytes.Equal(check.Sum(nil), a.SHA256) {
		return false
	}
	if _, err := src.Seek(0, io.SeekStart); err == nil {
		if _, err = io.Copy(io.MultiWriter(f, h), src); err == nil {
			return true
		}
	}
	f.Truncate(0)
	f.Seek(0, io.SeekStart)
	h.Reset()
	return false
}

// resumePartial keeps the whole transfer chunks of a partial download,
// hashes them, and positions f after them. It returns the running hash and
// the first transfer chunk still to fetch.
func resumePartial(f *os.File, size int64) (h hash.Hash, start int64, err error) {
	h = sha256.New()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	start = min(fi.Size(), size) / transferPlain
	keep := start * transferPlain
	if err := f.Truncate(keep); err != nil {
		return nil, 0, err
	}
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, keep)); err != nil {
		return nil, 0, err
	}
	if _, err := f.Seek(keep, io.SeekStart); err != nil {
		return nil, 0, err
	}
	return h, start, nil
}

// freeName returns a name in dir derived from name that no file has yet.
func freeName(dir, name string) (string, error) {
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for i := 0; i < 1000; i++ {
		p := filepath.Join(dir, name)
		if i > 0 {
			p = filepath.Join(dir, fmt.Sprintf("%s (%d)%s", base, i, ext))
		}
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			return p, nil
		}
	}
	return "", fmt.Errorf("no free file name for %s in %s", name, dir)
}

// publish moves the verified temporary file to final, or, when final is
// empty, to a name in dir derived from name that no file has yet.
func publish(tmp, final, dir, name string) (string, error) {
	if final != "" {
		return final, os.Rename(tmp, final)
	}
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for i := 0; i < 1000; i++ {
		p := filepath.Join(dir, name)
		if i > 0 {
			p = filepath.Join(dir, fmt.Sprintf("%s (%d)%s", base, i, ext))
		}
		// A hard link never replaces an existing file.
		err := os.Link(tmp, p)
		if err == nil {
			return p, os.Remove(tmp)
		}
		if !errors.Is(err, os.ErrExist) {
			if _, serr := os.Lstat(p); serr == nil {
				continue
			}
			return p, os.Rename(tmp, p) // no hard links here; the name was free
		}
	}
	return "", fmt.Errorf("no free file name for %s in %s", name, dir)
}

// fetchMemo downloads the memo of a just received message, verifies it and
// stores it as the message's text (m.Text is set too). On failure the
// message keeps an empty text; FetchMemo retries.
func (c *Client) fetchMemo(ctx context.Context, m *Message) {
	if text, err := c.FetchMemo(ctx, m.ID); err == nil {
		m.Text = text
	}
}

// FetchMemo downloads, verifies and stores the text of memo message
// messageID (received memos are fetched automatically on receipt; this
// retries one whose fetch failed) and returns it.
func (c *Client) FetchMemo(ctx context.Context, messageID string) (string, error) {
	r, err := c.fileRecord(ctx, messageID)
	if err != nil {
		return "", err
	}
	a := r.Attachment
	if !a.Memo || a.Size > MaxMemo {
		return "", fmt.Errorf("%w: %s is not a memo", ErrNoSuchFile, messageID)
	}
	if r.Text != "" || r.Outgoing {
		return r.Text, nil
	}
	buf := bytes.NewBuffer(make([]byte, 0, a.Size))
	bs := c.blobSession()
	err = c.fetchChunks(ctx, bs, a, 0, func(p []byte) error { _, err := buf.Write(p); return err }, nil)
	if err != nil {
		return "", err
	}
	if sum := sha256.Sum256(buf.Bytes()); !bytes.Equal(sum[:], a.SHA256) {
		return "", fmt.Errorf("%w: the memo's SHA-256 differs from the one the sender announced", ErrIntegrity)
	}
	r.Text = buf.String()
	if err := c.saveRecord(ctx, r); err != nil {
		return "", err
	}
	c.blobDone(ctx, bs, a)
	return r.Text, nil
}
