package blobs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

func TestUploadDownloadRoundTrip(t *testing.T) {
	e := newEnv(t, Config{})
	alice, bob := e.login("alice", 1), e.login("bob", 1)
	file := fileOf(3*testChunk+100, 1)
	cr := e.create(alice, int64(len(file)), testChunk, 1)
	if cr.Chunks != 4 || cr.ExpiresAt != e.clock.Now().Add(DefaultTTL).Unix() {
		t.Fatalf("create answered %+v", cr)
	}
	chunks := chunksOf(file, testChunk)
	for _, i := range []int64{3, 0, 2, 1} { // any order
		want(t, "upload", e.put(alice, cr.ID, i, chunks[i]), http.StatusNoContent, "")
	}
	st, r := e.status(bob, cr.ID)
	want(t, "status", r, http.StatusOK, "")
	if !st.Complete || !slices.Equal(st.Present, []int64{0, 1, 2, 3}) || st.Size != int64(len(file)) ||
		st.ChunkSize != testChunk || st.Chunks != 4 {
		t.Fatalf("status %+v", st)
	}
	// Bob, who got the id in a message, downloads: the id is the capability.
	var got []byte
	for i := range st.Chunks {
		r := e.getChunk(bob, cr.ID, i)
		want(t, "download", r, http.StatusOK, "")
		if r.header.Get("Content-Type") != "application/octet-stream" {
			t.Fatalf("chunk served as %q", r.header.Get("Content-Type"))
		}
		got = append(got, r.body...)
	}
	if !bytes.Equal(got, file) {
		t.Fatal("downloaded blob differs from the uploaded one")
	}
}

func TestInterruptedUploadResumesWithMissingChunksOnly(t *testing.T) {
	e := newEnv(t, Config{})
	alice := e.login("alice", 1)
	file := fileOf(5*testChunk-1, 2)
	chunks := chunksOf(file, testChunk)
	cr := e.create(alice, int64(len(file)), testChunk, 1)
	// The first session gets chunks 0 and 3 through, then the connection dies.
	for _, i := range []int64{0, 3} {
		want(t, "first session", e.put(alice, cr.ID, i, chunks[i]), http.StatusNoContent, "")
	}
	st, _ := e.status(alice, cr.ID)
	if st.Complete || !slices.Equal(st.Present, []int64{0, 3}) {
		t.Fatalf("after interruption: %+v", st)
	}
	// The resuming client sends exactly what the server lacks.
	for i := range st.Chunks {
		if !slices.Contains(st.Present, i) {
			want(t, "resume", e.put(alice, cr.ID, i, chunks[i]), http.StatusNoContent, "")
		}
	}
	if n := e.store.puts.Load(); n != 5 {
		t.Fatalf("%d chunk writes reached the store for 5 chunks", n)
	}
	if st, _ := e.status(alice, cr.ID); !st.Complete || len(st.Present) != 5 {
		t.Fatalf("after resume: %+v", st)
	}
}

func TestDownloadOverlapsUpload(t *testing.T) {
	e := newEnv(t, Config{})
	alice, bob := e.login("alice", 1), e.login("bob", 1)
	chunks := chunksOf(fileOf(2*testChunk, 3), testChunk)
	cr := e.create(alice, 2*testChunk, testChunk, 1)
	want(t, "upload", e.put(alice, cr.ID, 1, chunks[1]), http.StatusNoContent, "")
	r := e.getChunk(bob, cr.ID, 1)
	want(t, "present chunk", r, http.StatusOK, "")
	if !bytes.Equal(r.body, chunks[1]) {
		t.Fatal("wrong bytes for a present chunk")
	}
	want(t, "missing chunk", e.getChunk(bob, cr.ID, 0), http.StatusNotFound, "chunk_missing")
}

func TestChunkOfWrongLengthRefused(t *testing.T) {
	e := newEnv(t, Config{})
	alice := e.login("alice", 1)
	cr := e.create(alice, testChunk+10, testChunk, 1)
	for _, c := range []struct {
		name  string
		index int64
		n     int
	}{
		{"short full chunk", 0, testChunk - 1},
		{"long full chunk", 0, testChunk + 1},
		{"empty", 0, 0},
		{"last chunk sent full", 1, testChunk},
		{"last chunk short", 1, 9},
	} {
		want(t, c.name, e.put(alice, cr.ID, c.index, fileOf(c.n, 4)), http.StatusBadRequest, "wrong_length")
	}
	// A body without a declared length (chunked transfer encoding) that
	// runs past the chunk is cut off by the size limit, not truncated and
	// stored.
	long := io.MultiReader(bytes.NewReader(fileOf(testChunk, 4)), strings.NewReader("overflow"))
	r := e.do("PUT", chunkPath(cr.ID, 0), alice, "application/octet-stream", long)
	want(t, "unannounced long body", r, http.StatusBadRequest, "wrong_length")
	short := io.MultiReader(bytes.NewReader(fileOf(testChunk-1, 4)))
	r = e.do("PUT", chunkPath(cr.ID, 0), alice, "application/octet-stream", short)
	want(t, "unannounced short body", r, http.StatusBadRequest, "wrong_length")
	if n := e.store.puts.Load(); n != 0 {
		t.Fatalf("%d refused chunks reached the store", n)
	}
	want(t, "index past the end", e.put(alice, cr.ID, 2, fileOf(10, 4)), http.StatusBadRequest, "bad_chunk_index")
	r = e.do("PUT", chunkPath(cr.ID, 1), alice, "text/plain", bytes.NewReader(fileOf(10, 4)))
	want(t, "content type", r, http.StatusUnsupportedMediaType, "bad_content_type")
}

// Security regression: only the account that created a blob can add to
// it, so nobody who learns an id can plant content for its recipients.
func TestSecurityNonOwnerCannotUpload(t *testing.T) {
	e := newEnv(t, Config{})
	alice, mallory := e.login("alice", 1), e.login("mallory", 1)
	cr := e.create(alice, 10, testChunk, 1)
	want(t, "non-owner upload", e.put(mallory, cr.ID, 0, fileOf(10, 5)), http.StatusForbidden, "forbidden")
	if st, _ := e.status(alice, cr.ID); len(st.Present) != 0 {
		t.Fatalf("non-owner chunk stored: %+v", st)
	}
	// Ownership is the account's: Alice's second device may continue her
	// upload.
	alice2 := e.login("alice", 2)
	want(t, "owner's other device", e.put(alice2, cr.ID, 0, fileOf(10, 5)), http.StatusNoContent, "")
}

// Security regression: a stored chunk never changes, so a recipient that
// downloaded part of a blob cannot be fed different bytes for the rest.
func TestSecurityConflictingResendRefused(t *testing.T) {
	e := newEnv(t, Config{})
	alice := e.login("alice", 1)
	cr := e.create(alice, 10, testChunk, 1)
	orig := fileOf(10, 6)
	want(t, "upload", e.put(alice, cr.ID, 0, orig), http.StatusNoContent, "")
	want(t, "different resend", e.put(alice, cr.ID, 0, fileOf(10, 7)), http.StatusConflict, "chunk_conflict")
	if r := e.getChunk(alice, cr.ID, 0); !bytes.Equal(r.body, orig) {
		t.Fatal("a conflicting resend changed the stored chunk")
	}
}

func TestIdenticalResendAccepted(t *testing.T) {
	e := newEnv(t, Config{})
	alice := e.login("alice", 1)
	cr := e.create(alice, 10, testChunk, 1)
	data := fileOf(10, 8)
	for range 2 { // the first answer was "lost"; the client sends again
		want(t, "upload", e.put(alice, cr.ID, 0, data), http.StatusNoContent, "")
	}
	if st, _ := e.status(alice, cr.ID); !st.Complete {
		t.Fatalf("status after resend: %+v", st)
	}
}

func TestCreateLimits(t *testing.T) {
	e := newEnv(t, Config{MaxBlobSize: 1 << 20, MaxRecipients: 5})
	alice := e.login("alice", 1)
	for _, c := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"at the limits", `{"size":1048576,"chunk_size":4096,"recipients":5}`, http.StatusCreated, ""},
		{"size over limit", `{"size":1048577,"chunk_size":4096,"recipients":1}`, http.StatusRequestEntityTooLarge, "too_large"},
		{"chunk over limit", `{"size":100,"chunk_size":4097,"recipients":1}`, http.StatusRequestEntityTooLarge, "too_large"},
		{"chunk too small", `{"size":100,"chunk_size":100,"recipients":1}`, http.StatusBadRequest, "bad_chunk_size"},
		{"empty blob", `{"size":0,"chunk_size":4096,"recipients":1}`, http.StatusBadRequest, "bad_size"},
		{"too many recipients", `{"size":100,"chunk_size":4096,"recipients":6}`, http.StatusBadRequest, "bad_recipients"},
		{"no recipients", `{"size":100,"chunk_size":4096}`, http.StatusBadRequest, "bad_recipients"},
		{"unknown field", `{"size":100,"chunk_size":4096,"recipients":1,"owner":"bob"}`, http.StatusBadRequest, "bad_request"},
		{"huge body", `{"size":100,"chunk_size":4096,"recipients":1` + strings.Repeat(" ", maxCreateBody) + `}`, http.StatusRequestEntityTooLarge, "too_large"},
	} {
		r := e.do("POST", "/v1/blobs", alice, "application/json", strings.NewReader(c.body))
		want(t, c.name, r, c.status, c.code)
	}
	if cr := e.create(alice, 1<<20, testChunk, 1); cr.Chunks != 256 {
		t.Fatalf("1 MiB in 4 KiB chunks: %d chunks", cr.Chunks)
	}
}

func TestDoneByAllRecipientsDeletes(t *testing.T) {
	e := newEnv(t, Config{})
	alice, bob, carol := e.login("alice", 1), e.login("bob", 1), e.login("carol", 1)
	cr := e.create(alice, 10, testChunk, 2)
	want(t, "done before upload", e.done(bob, cr.ID), http.StatusConflict, "incomplete")
	want(t, "upload", e.put(alice, cr.ID, 0, fileOf(10, 9)), http.StatusNoContent, "")
	want(t, "bob done", e.done(bob, cr.ID), http.StatusNoContent, "")
	// Bob's device repeating itself must not stand in for Carol.
	want(t, "bob done again", e.done(bob, cr.ID), http.StatusNoContent, "")
	if _, r := e.status(carol, cr.ID); r.status != http.StatusOK {
		t.Fatalf("blob deleted after one of two recipients: %d", r.status)
	}
	want(t, "carol downloads", e.getChunk(carol, cr.ID, 0), http.StatusOK, "")
	want(t, "carol done", e.done(carol, cr.ID), http.StatusNoContent, "")
	_, r := e.status(carol, cr.ID)
	want(t, "status after all done", r, http.StatusNotFound, "not_found")
	want(t, "chunk after all done", e.getChunk(carol, cr.ID, 0), http.StatusNotFound, "not_found")
	if _, err := e.db.GetBlob(context.Background(), cr.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("blob still in the store: %v", err)
	}
}

func TestDevicesOfAMultiDeviceAccountCount(t *testing.T) {
	e := newEnv(t, Config{})
	alice, bob1, bob2, bob3 := e.login("alice", 1), e.login("bob", 1), e.login("bob", 2), e.login("bob", 3)
	carol := e.login("carol", 1)
	body := `{"size":10,"chunk_size":4096,"recipients":3,"multi_device":{"bob":2}}`
	r := e.do("POST", "/v1/blobs", alice, "application/json", strings.NewReader(body))
	want(t, "create for bob's two devices and carol", r, http.StatusCreated, "")
	var cr createResponse
	if err := json.Unmarshal(r.body, &cr); err != nil {
		t.Fatal(err)
	}
	want(t, "upload", e.put(alice, cr.ID, 0, fileOf(10, 9)), http.StatusNoContent, "")
	for _, tok := range []string{bob1, bob2, bob3} {
		want(t, "bob's device", e.done(tok, cr.ID), http.StatusNoContent, "")
	}
	// Bob's third device is beyond his share of two: carol still counts.
	if _, r := e.status(carol, cr.ID); r.status != http.StatusOK {
		t.Fatalf("bob's devices used carol's completion: status %d", r.status)
	}
	want(t, "carol", e.done(carol, cr.ID), http.StatusNoContent, "")
	if _, r := e.status(alice, cr.ID); r.status != http.StatusNotFound {
		t.Fatalf("two of bob's devices and carol are the three recipients; status %d", r.status)
	}
}

func TestExpireOldDeletesPastTTL(t *testing.T) {
	e := newEnv(t, Config{TTL: time.Hour})
	alice, bob := e.login("alice", 1), e.login("bob", 1)
	old := e.create(alice, 10, testChunk, 1)
	want(t, "upload", e.put(alice, old.ID, 0, fileOf(10, 10)), http.StatusNoContent, "")
	e.clock.Advance(30 * time.Minute)
	young := e.create(alice, 10, testChunk, 1)
	e.clock.Advance(31 * time.Minute)
	// Past its TTL the blob is gone for clients before collection runs.
	want(t, "expired chunk", e.getChunk(bob, old.ID, 0), http.StatusNotFound, "not_found")
	want(t, "expired upload", e.put(alice, old.ID, 0, fileOf(10, 10)), http.StatusNotFound, "not_found")
	if err := e.svc.ExpireOld(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.GetBlob(context.Background(), old.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired blob still stored: %v", err)
	}
	if _, err := e.db.GetChunk(context.Background(), old.ID, 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired chunk still stored: %v", err)
	}
	if _, r := e.status(bob, young.ID); r.status != http.StatusOK {
		t.Fatalf("a blob within its TTL was deleted: %d", r.status)
	}
}

func TestMissingAuthRefused(t *testing.T) {
	e := newEnv(t, Config{})
	alice := e.login("alice", 1)
	cr := e.create(alice, 10, testChunk, 1)
	routes := []struct{ method, path string }{
		{"POST", "/v1/blobs"}, {"GET", "/v1/blobs/" + cr.ID},
		{"PUT", chunkPath(cr.ID, 0)}, {"GET", chunkPath(cr.ID, 0)}, {"POST", "/v1/blobs/" + cr.ID + "/done"},
	}
	for _, rt := range routes {
		want(t, rt.method+" "+rt.path+" without token", e.do(rt.method, rt.path, "", "", nil), http.StatusUnauthorized, "unauthorized")
		want(t, rt.method+" "+rt.path+" bad token", e.do(rt.method, rt.path, "forged", "", nil), http.StatusUnauthorized, "unauthorized")
	}
	// Security regression: mounted without RequireAuth by mistake, the
	// handler still refuses rather than serving anonymous requests.
	h := e.svc.Handler()
	for _, rt := range routes {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(rt.method, rt.path, strings.NewReader(`{}`)))
		want(t, rt.method+" "+rt.path+" unwrapped", reply{status: rec.Code, body: rec.Body.Bytes()}, http.StatusUnauthorized, "unauthorized")
	}
	if n := e.store.puts.Load(); n != 0 {
		t.Fatalf("%d unauthenticated chunk writes reached the store", n)
	}
}

func TestBadPathParameters(t *testing.T) {
	e := newEnv(t, Config{})
	alice := e.login("alice", 1)
	cr := e.create(alice, 10, testChunk, 1)
	unknown := newID()
	for _, c := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/v1/blobs/short", http.StatusBadRequest, "bad_blob_id"},
		{"GET", "/v1/blobs/" + cr.ID + "A", http.StatusBadRequest, "bad_blob_id"},
		{"GET", "/v1/blobs/" + unknown, http.StatusNotFound, "not_found"},
		{"GET", "/v1/blobs/" + unknown + "/chunks/0", http.StatusNotFound, "not_found"},
		{"POST", "/v1/blobs/" + unknown + "/done", http.StatusNotFound, "not_found"},
		{"GET", "/v1/blobs/" + cr.ID + "/chunks/00", http.StatusBadRequest, "bad_chunk_index"},
		{"GET", "/v1/blobs/" + cr.ID + "/chunks/-1", http.StatusBadRequest, "bad_chunk_index"},
		{"GET", "/v1/blobs/" + cr.ID + "/chunks/x", http.StatusBadRequest, "bad_chunk_index"},
		{"GET", "/v1/blobs/" + cr.ID + "/chunks/1", http.StatusBadRequest, "bad_chunk_index"},
		{"GET", "/v1/blobs/" + cr.ID + "/chunks/99999999999999999999", http.StatusBadRequest, "bad_chunk_index"},
	} {
		want(t, c.method+" "+c.path, e.do(c.method, c.path, alice, "", nil), c.status, c.code)
	}
}

// Security regression: blob ids are read capabilities, so they must not
// leak into logs, even when the store fails.
func TestSecurityBlobIDsStayOutOfLogs(t *testing.T) {
	e := newEnv(t, Config{TTL: time.Hour})
	alice := e.login("alice", 1)
	cr := e.create(alice, 10, testChunk, 1)
	want(t, "upload", e.put(alice, cr.ID, 0, fileOf(10, 11)), http.StatusNoContent, "")
	e.clock.Advance(2 * time.Hour)
	if err := e.svc.ExpireOld(context.Background()); err != nil {
		t.Fatal(err)
	}
	cr2 := e.create(alice, 10, testChunk, 1)
	e.db.Close() // every store call fails from here
	// The real auth needs the store too; a fixed verifier stands in.
	h := httpapi.RequireAuth(staticVerifier{"tok": {Username: "alice", DeviceID: 1}}, e.svc.Handler())
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/v1/blobs/"+cr2.ID, nil)
	req.Header.Set("Authorization", "Bearer tok")
	h.ServeHTTP(rec, req)
	want(t, "status with a broken store", reply{status: rec.Code, body: rec.Body.Bytes()}, http.StatusServiceUnavailable, "unavailable")
	logs := e.logs.String()
	if !strings.Contains(logs, "storage error") || !strings.Contains(logs, "expired") {
		t.Fatalf("expected log lines missing:\n%s", logs)
	}
	for _, id := range []string{cr.ID, cr2.ID} {
		if strings.Contains(logs, id) || strings.Contains(rec.Body.String(), id) {
			t.Fatalf("a blob id appears in the logs or an error:\n%s", logs)
		}
	}
}

func TestCollectorsCountTraffic(t *testing.T) {
	e := newEnv(t, Config{})
	reg := prometheus.NewRegistry()
	for _, c := range e.svc.Collectors() {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	alice := e.login("alice", 1)
	cr := e.create(alice, 10, testChunk, 1)
	want(t, "upload", e.put(alice, cr.ID, 0, fileOf(10, 12)), http.StatusNoContent, "")
	want(t, "conflict", e.put(alice, cr.ID, 0, fileOf(10, 13)), http.StatusConflict, "chunk_conflict")
	want(t, "download", e.getChunk(alice, cr.ID, 0), http.StatusOK, "")
	want(t, "done", e.done(alice, cr.ID), http.StatusNoContent, "")
	for name, v := range map[string]float64{
		"hush_blobs_created_total":                 1,
		"hush_blobs_uploaded_bytes_total":          10,
		"hush_blobs_downloaded_bytes_total":        10,
		"hush_blobs_deleted_total{fetched}":        1,
		"hush_blobs_refused_total{chunk_conflict}": 1,
	} {
		if got := metricValue(t, reg, name); got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
}

// A chunk whose declared length is wrong is refused from its headers:
// the server neither waits for nor buffers a body it will not take, so a
// client announcing a gigabyte costs it nothing.
func TestDeclaredWrongLengthRefusedBeforeReading(t *testing.T) {
	e := newEnv(t, Config{})
	alice := e.login("alice", 1)
	cr := e.create(alice, 10, testChunk, 1)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Only a hang would hit this deadline: the body is never sent.
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", chunkPath(cr.ID, 0), alice, 1<<30)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want(t, "declared 1 GiB", reply{status: resp.StatusCode, body: body}, http.StatusBadRequest, "wrong_length")
}
