package localstore

import (
	"encoding/binary"
	"fmt"
)

// A sealed plaintext is a sequence of fields, each a uvarint length and
// that many bytes. It carries the names the row key was blinded from
// (so the key can be re-derived under a new passphrase) and the value.

// encodeFields concatenates length-prefixed fields.
func encodeFields(fields ...[]byte) []byte {
	n := 0
	for _, f := range fields {
		n += binary.MaxVarintLen64 + len(f)
	}
	b := make([]byte, 0, n)
	for _, f := range fields {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// decodeFields splits b into exactly n fields. The fields alias b. Only
// authenticated plaintexts reach it, so a failure means a bug or a file
// written by an incompatible version, not an attack.
func decodeFields(b []byte, n int) ([][]byte, error) {
	out := make([][]byte, 0, n)
	for range n {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, fmt.Errorf("%w: malformed record", ErrCorrupt)
		}
		out = append(out, b[k:k+int(l):k+int(l)])
		b = b[k+int(l):]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: trailing data in record", ErrCorrupt)
	}
	return out, nil
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
