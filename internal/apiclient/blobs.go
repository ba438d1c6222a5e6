package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/hush-chat/hush/internal/proto"
)

// blobHTTP carries chunk transfers. It keeps more idle connections per host
// than the default transport, so parallel chunk uploads and downloads reuse
// their connections instead of opening one per chunk.
var blobHTTP = &http.Client{
	Timeout: 5 * time.Minute,
	Transport: func() http.RoundTripper {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 32
		return t
	}(),
}

// BlobInfo is the answer to CreateBlob.
type BlobInfo struct {
	ID        string    // the blob id: a capability, never logged
	Chunks    int64     // chunks to upload, indexes 0 … Chunks-1
	ExpiresAt time.Time // deletion time
}

// CreateBlob declares a blob of size bytes in chunks of chunkSize, to be
// fetched by recipients devices, of which the accounts in multiDevice
// fetch from that many devices each and every other account from one
// (doc/API.md §5.2).
func (c *Client) CreateBlob(ctx context.Context, token string, size, chunkSize int64, recipients int, multiDevice map[string]int) (*BlobInfo, error) {
	var r struct {
		ID        string `json:"id"`
		Chunks    int64  `json:"chunks"`
		ExpiresAt int64  `json:"expires_at"`
	}
	in := struct {
		Size        int64          `json:"size"`
		ChunkSize   int64          `json:"chunk_size"`
		Recipients  int            `json:"recipients"`
		MultiDevice map[string]int `json:"multi_device,omitempty"`
	}{size, chunkSize, recipients, multiDevice}
	if err := c.postJSON(ctx, "/v1/blobs", token, in, &r); err != nil {
		return nil, err
	}
	if r.ID == "" || r.Chunks < 1 {
		return nil, fmt.Errorf("server answered a blob creation without an id or chunks")
	}
	return &BlobInfo{ID: r.ID, Chunks: r.Chunks, ExpiresAt: time.Unix(r.ExpiresAt, 0)}, nil
}

// BlobStatus is what the server says about a blob (doc/API.md §5.4).
type BlobStatus struct {
	Size      int64   `json:"size"`
	ChunkSize int64   `json:"chunk_size"`
	Chunks    int64   `json:"chunks"`
	Present   []int64 `json:"present"`
	Complete  bool    `json:"complete"`
	ExpiresAt int64   `json:"expires_at"`
}

// BlobStatus asks which chunks of a blob are stored.
func (c *Client) BlobStatus(ctx context.Context, token, id string) (*BlobStatus, error) {
	var st BlobStatus
	if _, err := c.do(ctx, "GET", blobPath(id), token, nil, "", &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// PutChunk uploads chunk index of a blob. Sending a chunk that is already
// stored with the same bytes succeeds.
func (c *Client) PutChunk(ctx context.Context, token, id string, index int64, data []byte) error {
	req, err := c.blobRequest(ctx, "PUT", fmt.Sprintf("%s/chunks/%d", blobPath(id), index), token, data)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := blobHTTP.Do(req)
	if err != nil {
		return c.unreachable(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return errorAnswer(resp)
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	return err
}

// GetChunk downloads chunk index of a blob into buf (reusing its storage
// when it is large enough) and returns it. An answer longer than max bytes
// is refused without reading it all.
func (c *Client) GetChunk(ctx context.Context, token, id string, index int64, buf []byte, max int64) ([]byte, error) {
	req, err := c.blobRequest(ctx, "GET", fmt.Sprintf("%s/chunks/%d", blobPath(id), index), token, nil)
	if err != nil {
		return nil, err
	}
	resp, err := blobHTTP.Do(req)
	if err != nil {
		return nil, c.unreachable(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return nil, errorAnswer(resp)
	}
	if resp.ContentLength > max {
		return nil, fmt.Errorf("blob chunk %d: the server sent %d bytes, at most %d expected", index, resp.ContentLength, max)
	}
	if resp.ContentLength >= 0 {
		// Read exactly the announced length into buf: no growth, no copy.
		n := int(resp.ContentLength)
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			return nil, fmt.Errorf("blob chunk %d: %w", index, err)
		}
		return buf, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("blob chunk %d: %w", index, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("blob chunk %d: the server sent more than %d bytes", index, max)
	}
	return b, nil
}

// BlobDone reports that this device fetched the whole blob.
func (c *Client) BlobDone(ctx context.Context, token, id string) error {
	_, err := c.do(ctx, "POST", blobPath(id)+"/done", token, nil, "", nil)
	return err
}

func blobPath(id string) string { return "/v1/blobs/" + url.PathEscape(id) }

func (c *Client) blobRequest(ctx context.Context, method, path, token string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return req, nil
}

// errorAnswer turns an error answer into *Error, with the wait a
// Retry-After header asks for.
func errorAnswer(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e proto.ErrorAnswer
	if json.Unmarshal(b, &e) != nil || e.Error.Code == "" {
		return &Error{Status: resp.StatusCode, Code: fmt.Sprintf("http_%d", resp.StatusCode), Message: http.StatusText(resp.StatusCode),
			RetryAfter: retryAfter(resp.Header)}
	}
	return &Error{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message, RetryAfter: retryAfter(resp.Header)}
}
