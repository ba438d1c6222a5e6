package blobs

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

var (
	errNoAuth = httpapi.Errorf(http.StatusUnauthorized, "unauthorized", "missing bearer token")
	// errNoBlob also answers for an expired blob not yet collected, and
	// for a blob deleted while the request ran.
	errNoBlob       = httpapi.Errorf(http.StatusNotFound, "not_found", "no such blob")
	errNotOwner     = httpapi.Errorf(http.StatusForbidden, "forbidden", "only the account that created a blob uploads its chunks")
	errConflict     = httpapi.Errorf(http.StatusConflict, "chunk_conflict", "this chunk was already uploaded with different bytes")
	errChunkMissing = httpapi.Errorf(http.StatusNotFound, "chunk_missing", "this chunk has not been uploaded yet")
	errIncomplete   = httpapi.Errorf(http.StatusConflict, "incomplete", "the blob is not completely uploaded")
	errContentType  = httpapi.Errorf(http.StatusUnsupportedMediaType, "bad_content_type", "want application/octet-stream")
)

type createResponse struct {
	ID        string `json:"id"`
	Chunks    int64  `json:"chunks"`
	ExpiresAt int64  `json:"expires_at"`
}

type statusResponse struct {
	Size      int64   `json:"size"`
	ChunkSize int64   `json:"chunk_size"`
	Chunks    int64   `json:"chunks"`
	Present   []int64 `json:"present"`
	Complete  bool    `json:"complete"`
	ExpiresAt int64   `json:"expires_at"`
}

// fail answers err and counts it. An error that is not an *httpapi.Error
// is a storage failure: logged (by operation, never with a blob id) and
// answered as a bare 500.
func (s *Service) fail(w http.ResponseWriter, op string, err error) {
	var he *httpapi.Error
	if errors.As(err, &he) {
		s.m.refused.WithLabelValues(he.Code).Inc()
	} else {
		s.m.storeErrors.Inc()
		s.m.refused.WithLabelValues("internal").Inc()
		s.log.Error("blobs: storage error", "op", op, "err", err)
	}
	httpapi.WriteError(w, err)
}

func (s *Service) handleCreate(w http.ResponseWriter, r *http.Request) {
	p, ok := httpapi.PrincipalFrom(r.Context())
	if !ok {
		s.fail(w, "", errNoAuth)
		return
	}
	req, err := decodeCreate(r, s.limits())
	if err != nil {
		s.fail(w, "", err)
		return
	}
	now := s.now()
	b := store.Blob{ID: newID(), Owner: p.Username, Size: req.Size, ChunkSize: req.ChunkSize,
		Recipients: req.Recipients, CreatedAt: now, ExpiresAt: now.Add(s.ttl), MultiDevice: req.MultiDevice}
	// With 128 random bits an id collision (ErrExists) does not happen;
	// if the store ever reported one, a 500 is the honest answer.
	err = s.store.CreateBlob(r.Context(), b, s.quota)
	switch {
	case errors.Is(err, store.ErrBlobQuota):
		err = httpapi.Errorf(http.StatusTooManyRequests, "quota_exceeded",
			"this server keeps at most %s of files per account, each until its recipients fetch it or for %s; this one does not fit",
			humanBytes(s.quota.MaxBytes), humanDuration(s.ttl))
	case errors.Is(err, store.ErrBlobUploads):
		err = httpapi.Errorf(http.StatusTooManyRequests, "too_many_uploads",
			"this server allows %d unfinished uploads per account, and drops one %s after it began", s.quota.MaxIncomplete, humanDuration(s.ttl))
	}
	if err != nil {
		s.fail(w, "CreateBlob", err)
		return
	}
	s.m.created.Inc()
	w.Header().Set("Location", "/v1/blobs/"+b.ID)
	httpapi.WriteJSON(w, http.StatusCreated, createResponse{ID: b.ID,
		Chunks: newLayout(b.Size, b.ChunkSize).chunks, ExpiresAt: b.ExpiresAt.Unix()})
}

func (s *Service) handleStatus(w http.ResponseWriter, r *http.Request) {
	if _, ok := httpapi.PrincipalFrom(r.Context()); !ok {
		s.fail(w, "", errNoAuth)
		return
	}
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		s.fail(w, "", err)
		return
	}
	b, err := s.liveBlob(r.Context(), id)
	if err != nil {
		s.fail(w, "GetBlob", err)
		return
	}
	present, err := s.store.ChunksPresent(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		err = errNoBlob
	}
	if err != nil {
		s.fail(w, "ChunksPresent", err)
		return
	}
	if present == nil {
		present = []int64{} // JSON [] rather than null
	}
	l := newLayout(b.Size, b.ChunkSize)
	httpapi.WriteJSON(w, http.StatusOK, statusResponse{Size: b.Size, ChunkSize: b.ChunkSize,
		Chunks: l.chunks, Present: present, Complete: int64(len(present)) == l.chunks,
		ExpiresAt: b.ExpiresAt.Unix()})
}

func (s *Service) handlePutChunk(w http.ResponseWriter, r *http.Request) {
	p, ok := httpapi.PrincipalFrom(r.Context())
	if !ok {
		s.fail(w, "", errNoAuth)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/octet-stream") {
		s.fail(w, "", errContentType)
		return
	}
	b, i, err := s.chunkTarget(r)
	if err != nil {
		s.fail(w, "GetBlob", err)
		return
	}
	if b.Owner != p.Username {
		s.fail(w, "", errNotOwner)
		return
	}
	n := newLayout(b.Size, b.ChunkSize).chunkLen(i)
	// Charged before the body is read: a refused upload costs the server
	// no bandwidth beyond the headers, and no memory.
	if ok, wait := s.uploads.take(p.Username, n); !ok {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(max(time.Second, wait+time.Second-1)/time.Second), 10))
		s.fail(w, "", httpapi.Errorf(http.StatusTooManyRequests, "rate_limited",
			"this account uploads faster than the server allows (%s per second)", humanBytes(int64(s.uploads.rate))))
		return
	}
	data, err := readChunk(w, r, n)
	if err != nil {
		s.fail(w, "", err)
		return
	}
	err = s.store.PutChunk(r.Context(), b.ID, i, data)
	switch {
	case errors.Is(err, store.ErrExists):
		err = errConflict
	case errors.Is(err, store.ErrNotFound):
		err = errNoBlob
	}
	if err != nil {
		s.fail(w, "PutChunk", err)
		return
	}
	s.m.chunksIn.Inc()
	s.m.bytesIn.Add(float64(len(data)))
	w.WriteHeader(http.StatusNoContent)
}

// readChunk reads a body of exactly want bytes. A declared length is
// checked before anything is read or allocated; a body sent without one is
// read through http.MaxBytesReader, so at most want bytes (never more than
// MaxChunk) are ever buffered.
func readChunk(w http.ResponseWriter, r *http.Request, want int64) ([]byte, error) {
	wrong := httpapi.Errorf(http.StatusBadRequest, "wrong_length", "this chunk must be exactly %d bytes", want)
	if r.ContentLength >= 0 && r.ContentLength != want {
		return nil, wrong
	}
	body := http.MaxBytesReader(w, r.Body, want)
	buf := make([]byte, want)
	if _, err := io.ReadFull(body, buf); err != nil {
		return nil, wrong
	}
	// The body must end here: a longer one is refused, not truncated.
	if n, err := body.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		return nil, wrong
	}
	return buf, nil
}

func (s *Service) handleGetChunk(w http.ResponseWriter, r *http.Request) {
	if _, ok := httpapi.PrincipalFrom(r.Context()); !ok {
		s.fail(w, "", errNoAuth)
		return
	}
	b, i, err := s.chunkTarget(r)
	if err != nil {
		s.fail(w, "GetBlob", err)
		return
	}
	data, err := s.store.GetChunk(r.Context(), b.ID, i)
	if errors.Is(err, store.ErrNotFound) {
		err = errChunkMissing
	}
	if err != nil {
		s.fail(w, "GetChunk", err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
	s.m.chunksOut.Inc()
	s.m.bytesOut.Add(float64(len(data)))
}

func (s *Service) handleDone(w http.ResponseWriter, r *http.Request) {
	p, ok := httpapi.PrincipalFrom(r.Context())
	if !ok {
		s.fail(w, "", errNoAuth)
		return
	}
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		s.fail(w, "", err)
		return
	}
	b, err := s.liveBlob(r.Context(), id)
	if err != nil {
		s.fail(w, "GetBlob", err)
		return
	}
	// Nobody can have finished downloading a blob that is not all there;
	// refusing keeps an early call from deleting it under its recipients.
	if !b.Complete {
		s.fail(w, "", errIncomplete)
		return
	}
	c, err := s.store.MarkFetched(r.Context(), id, p.Username, p.DeviceID)
	if errors.Is(err, store.ErrNotFound) {
		err = errNoBlob // deleted since liveBlob read it
	}
	if err != nil {
		s.fail(w, "MarkFetched", err)
		return
	}
	// A repeat, or a device beyond its account's share, is answered as
	// a counted report: the device did finish, and has nothing to redo.
	if c.Counted {
		s.m.fetched.Inc()
	} else {
		s.m.doneIgnored.Inc()
	}
	if c.Deleted {
		s.m.deleted.WithLabelValues("fetched").Inc()
	}
	w.WriteHeader(http.StatusNoContent)
}

// chunkTarget parses the {id} and {index} of a chunk path and returns the
// live blob and the index, which is checked to be one of its chunks.
func (s *Service) chunkTarget(r *http.Request) (*store.Blob, int64, error) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		return nil, 0, err
	}
	i, err := parseIndex(r.PathValue("index"))
	if err != nil {
		return nil, 0, err
	}
	b, err := s.liveBlob(r.Context(), id)
	if err != nil {
		return nil, 0, err
	}
	if l := newLayout(b.Size, b.ChunkSize); !l.has(i) {
		return nil, 0, httpapi.Errorf(http.StatusBadRequest, "bad_chunk_index", "this blob has chunks 0 to %d", l.chunks-1)
	}
	return b, i, nil
}

// liveBlob returns blob id unless it does not exist or has expired: an
// expired blob is gone for clients even before ExpireOld collects it.
func (s *Service) liveBlob(ctx context.Context, id string) (*store.Blob, error) {
	b, err := s.store.GetBlob(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && b.ExpiresAt.Before(s.now())) {
		return nil, errNoBlob
	}
	return b, err
}

// humanBytes writes a limit the way people read it: "4 GiB", "50 MiB",
// else the exact number of bytes.
func humanBytes(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + " " + u.name
		}
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// humanDuration writes a lifetime in whole days when it is one.
func humanDuration(d time.Duration) string {
	const day = 24 * time.Hour
	if d >= day && d%day == 0 {
		if d == day {
			return "1 day"
		}
		return strconv.FormatInt(int64(d/day), 10) + " days"
	}
	return d.String()
}
