package blobs

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strconv"

	"github.com/hush-chat/hush/internal/server/httpapi"
)

// idBytes is the entropy of a blob id: 128 bits, enough that ids can be
// neither guessed nor enumerated, which is what lets an id be the read
// capability.
const idBytes = 16

// idLen is the length of an id in unpadded base64url.
var idLen = base64.RawURLEncoding.EncodedLen(idBytes) // 22

// maxCreateBody bounds the POST /v1/blobs body: three numbers and at most
// MaxRecipients/2 multi_device entries of about 45 bytes.
const maxCreateBody = 32 << 10

// newID returns a fresh random blob id.
func newID() string {
	b := make([]byte, idBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// parseID checks that s is an id newID could have produced. Only canonical
// encodings pass (strict base64 refuses non-zero trailing bits), so one
// blob has one spelling and a path never reaches the store with an
// arbitrary string in it.
func parseID(s string) (string, error) {
	if len(s) != idLen {
		return "", errBadID
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != idBytes {
		return "", errBadID
	}
	return s, nil
}

var errBadID = httpapi.Errorf(http.StatusBadRequest, "bad_blob_id", "a blob id is 22 characters of unpadded base64url")

// parseIndex parses a chunk index: a canonical non-negative decimal number
// (no sign, no leading zero, no spaces), so "07" and "7" are not two names
// for one chunk.
func parseIndex(s string) (int64, error) {
	if s == "" || len(s) > 19 || (len(s) > 1 && s[0] == '0') {
		return 0, errBadIndex
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errBadIndex
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errBadIndex
	}
	return n, nil
}

var errBadIndex = httpapi.Errorf(http.StatusBadRequest, "bad_chunk_index", "a chunk index is a non-negative decimal number")

// createRequest is the body of POST /v1/blobs.
type createRequest struct {
	Size       int64 `json:"size"`
	ChunkSize  int64 `json:"chunk_size"`
	Recipients int   `json:"recipients"`
	// MultiDevice names the accounts that will fetch from more than one
	// device, with how many; any other account counts one completion.
	MultiDevice map[string]int `json:"multi_device,omitempty"`
}

// limits are the bounds a createRequest is checked against.
type limits struct {
	maxBlobSize   int64
	maxChunk      int64
	maxRecipients int
}

func (s *Service) limits() limits {
	return limits{maxBlobSize: s.maxBlobSize, maxChunk: s.maxChunk, maxRecipients: s.maxRecipients}
}

// decodeCreate reads and checks a POST /v1/blobs body.
func decodeCreate(r *http.Request, lim limits) (createRequest, error) {
	var req createRequest
	if err := httpapi.DecodeJSON(r, maxCreateBody, &req); err != nil {
		return req, err
	}
	return req, lim.check(req)
}

// check enforces the limits on a declared blob.
func (lim limits) check(req createRequest) error {
	minChunk := min(MinChunk, lim.maxChunk)
	switch {
	case req.Size < 1:
		return httpapi.Errorf(http.StatusBadRequest, "bad_size", "size must be at least 1")
	case req.Size > lim.maxBlobSize:
		return httpapi.Errorf(http.StatusRequestEntityTooLarge, "too_large", "size is over the limit of %d bytes", lim.maxBlobSize)
	case req.ChunkSize > lim.maxChunk:
		return httpapi.Errorf(http.StatusRequestEntityTooLarge, "too_large", "chunk_size is over the limit of %d bytes", lim.maxChunk)
	case req.ChunkSize < minChunk:
		return httpapi.Errorf(http.StatusBadRequest, "bad_chunk_size", "chunk_size must be at least %d", minChunk)
	case req.Recipients < 1 || req.Recipients > lim.maxRecipients:
		return httpapi.Errorf(http.StatusBadRequest, "bad_recipients", "recipients must be between 1 and %d", lim.maxRecipients)
	}
	return checkMultiDevice(req.MultiDevice, req.Recipients)
}

// checkMultiDevice checks the multi_device shares: user names, each share
// from 2 to recipients, and together no more than recipients (every
// device they name is one of the recipients).
func checkMultiDevice(m map[string]int, recipients int) error {
	bad := func(format string, args ...any) error {
		return httpapi.Errorf(http.StatusBadRequest, "bad_recipients", format, args...)
	}
	sum := 0
	for name, n := range m {
		if !validUsername(name) {
			return bad("multi_device names an invalid username")
		}
		if n < 2 || n > recipients {
			return bad("a multi_device count must be between 2 and recipients")
		}
		if sum += n; sum > recipients {
			return bad("the multi_device counts add up to more than recipients")
		}
	}
	return nil
}

// validUsername matches doc/API.md §1: ^[a-z0-9][a-z0-9_-]{2,31}$.
func validUsername(s string) bool {
	if len(s) < 3 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// layout is how a blob of size bytes splits into chunks: every chunk holds
// chunkSize bytes except the last, which holds the 1 to chunkSize bytes
// left.
type layout struct {
	size, chunkSize, chunks int64
}

// newLayout requires size >= 1 and chunkSize >= 1. It rounds up without
// computing size+chunkSize, which could overflow.
func newLayout(size, chunkSize int64) layout {
	n := size / chunkSize
	if size%chunkSize != 0 {
		n++
	}
	return layout{size: size, chunkSize: chunkSize, chunks: n}
}

// has reports whether i is a chunk index of the blob.
func (l layout) has(i int64) bool { return i >= 0 && i < l.chunks }

// chunkLen is the exact length of chunk i, which must exist.
func (l layout) chunkLen(i int64) int64 {
	if i == l.chunks-1 {
		return l.size - i*l.chunkSize
	}
	return l.chunkSize
}
