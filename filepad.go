package hush

import "math/bits"

// File padding (doc/SPEC.md §11.1). A file's stream encrypts the file
// followed by zero bytes up to paddedFileSize(size), so that the blob the
// server stores, and every transfer it sees, tells only the bucket a file
// falls in, not its size. The real size travels in the end-to-end
// encrypted file message; the padding is inside the authenticated stream,
// and a receiver refuses a stream whose padding is not all zero.
const (
	// minPaddedFile is the smallest padded file: every file of up to
	// 4 KiB (a short memo is 16 KiB or more) looks the same.
	minPaddedFile = 4096
	// padBucketBits: above minPaddedFile, each doubling of size holds
	// 2^padBucketBits buckets, so padding adds less than 1/8 (12.5%).
	padBucketBits = 3
)

// paddedFileSize returns the length a file of size bytes (0 ≤ size ≤
// MaxFileSize) is padded to: minPaddedFile, or else size rounded up to a
// multiple of 2^(e-4), where 2^(e-1) < size ≤ 2^e.
func paddedFileSize(size int64) int64 {
	if size <= minPaddedFile {
		return minPaddedFile
	}
	e := bits.Len64(uint64(size - 1)) // 2^(e-1) < size <= 2^e
	step := int64(1) << (e - 1 - padBucketBits)
	return (size-1)/step*step + step
}

// allZero reports whether b holds only zero bytes. Padding is no secret
// (it is zero by definition), so an early exit leaks nothing.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
