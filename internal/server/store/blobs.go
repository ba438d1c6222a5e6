package store

import "errors"

var (
	// ErrBlobQuota: creating the blob would take the bytes of its owner's
	// live blobs over BlobQuota.MaxBytes.
	ErrBlobQuota = errors.New("account blob quota exceeded")
	// ErrBlobUploads: the owner already has BlobQuota.MaxIncomplete live
	// blobs that are not completely uploaded.
	ErrBlobUploads = errors.New("too many incomplete blobs")
)

// BlobQuota bounds the live blobs of one owner (CreateBlob). A zero field
// sets no bound.
type BlobQuota struct {
	// MaxBytes bounds the sum of the declared sizes of the owner's live
	// blobs, the new one included, each counted as at least MinCharge.
	MaxBytes int64
	// MinCharge is the least a blob counts against MaxBytes, so that tiny
	// blobs cannot pile up in numbers the byte quota does not see.
	MinCharge int64
	// MaxIncomplete bounds how many of the owner's live blobs, the new one
	// included, are not completely uploaded.
	MaxIncomplete int
}

// Completion is what MarkFetched did with a device's report.
type Completion struct {
	// Counted: the report was the device's first and its account had a
	// completion left, so Fetched grew by one.
	Counted bool
	// Repeat: the device had reported before; nothing changed.
	Repeat bool
	// Deleted: Fetched reached Recipients and the blob was deleted.
	Deleted bool
}
