package sessbook

import (
	"bytes"
	"testing"
)

// FuzzDecode: any record that decodes re-encodes to the same bytes
// (binary form), and nothing panics.
func FuzzDecode(f *testing.F) {
	seeds := [][]byte{
		(&Record{State: []byte{1}, TagSend: []byte{2}, TagRecv: []byte{3}, TagOld: []byte{4}, OfferDue: true,
			Archived: []Archived{{State: []byte{5}, BaseKey: []byte{6}}}}).Encode(),
		(&Record{}).Encode(),
		[]byte(`{"state":"AQ=="}`),
	}
	if len(seeds) == 0 {
		f.Fatal("no seeds")
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil || (len(b) > 0 && b[0] == '{') {
			return
		}
		if !bytes.Equal(r.Encode(), b) {
			t.Fatalf("%x re-encodes as %x", b, r.Encode())
		}
	})
}
