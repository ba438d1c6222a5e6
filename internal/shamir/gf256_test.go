package shamir

import "testing"

// refMul is the textbook product: carry-less multiplication into 15 bits,
// then long division by 0x11b. It shares no code or trick with gfMul.
func refMul(a, b byte) byte {
	var p uint16
	for i := range 8 {
		if b&(1<<i) != 0 {
			p ^= uint16(a) << i
		}
	}
	for i := 14; i >= 8; i-- {
		if p&(1<<i) != 0 {
			p ^= 0x11b << (i - 8)
		}
	}
	return byte(p)
}

// gfMul agrees with the reference on all 65,536 products, and with the
// worked example of FIPS 197 §4.2 ({57}·{83} = {c1}).
func TestMulMatchesReference(t *testing.T) {
	if got := gfMul(0x57, 0x83); got != 0xc1 {
		t.Fatalf("57·83 = %02x, want c1", got)
	}
	for a := range 256 {
		for b := range 256 {
			if got, want := gfMul(byte(a), byte(b)), refMul(byte(a), byte(b)); got != want {
				t.Fatalf("%02x·%02x = %02x, want %02x", a, b, got, want)
			}
		}
	}
}

// Every nonzero element's inverse multiplies to 1, inverses are unique
// (the map is a bijection), and 0 maps to 0 (the convention Combine never
// relies on: x-coordinates are distinct).
func TestInverse(t *testing.T) {
	if gfInv(0) != 0 {
		t.Fatalf("inv(0) = %02x", gfInv(0))
	}
	var seen [256]bool
	for a := 1; a < 256; a++ {
		inv := gfInv(byte(a))
		if refMul(byte(a), inv) != 1 {
			t.Fatalf("%02x·inv = %02x", a, refMul(byte(a), inv))
		}
		if seen[inv] {
			t.Fatalf("inverse %02x met twice", inv)
		}
		seen[inv] = true
	}
}

// The field axioms, exhaustively: commutativity, identities, associativity
// and distributivity over all triples.
func TestFieldAxioms(t *testing.T) {
	for a := range 256 {
		a := byte(a)
		if gfMul(a, 1) != a || gfMul(a, 0) != 0 {
			t.Fatalf("identity fails for %02x", a)
		}
		for b := range 256 {
			b := byte(b)
			ab := gfMul(a, b)
			if ab != gfMul(b, a) {
				t.Fatalf("%02x·%02x not commutative", a, b)
			}
			for c := range 256 {
				c := byte(c)
				if gfMul(ab, c) != gfMul(a, gfMul(b, c)) {
					t.Fatalf("(%02x·%02x)·%02x not associative", a, b, c)
				}
				if gfMul(a, b^c) != ab^gfMul(a, c) {
					t.Fatalf("%02x·(%02x+%02x) not distributive", a, b, c)
				}
			}
		}
	}
}
