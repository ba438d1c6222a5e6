package shamir

// Arithmetic in GF(2^8) with the AES reduction polynomial
// x^8 + x^4 + x^3 + x + 1 (0x11b). Addition and subtraction are XOR.
//
// Both functions are constant-time in their operands (package doc,
// "Constant time"): they are the only operations secret bytes go through
// besides XOR.

// gfMul returns a·b. The loop count is fixed; each round adds a to the
// product under a mask made from one bit of b, then multiplies a by x,
// reducing under a mask made from its top bit.
func gfMul(a, b byte) byte {
	var p byte
	for range 8 {
		p ^= -(b & 1) & a
		b >>= 1
		a = a<<1 ^ -(a>>7)&0x1b
	}
	return p
}

// gfInv returns a^-1 for a ≠ 0, and 0 for a = 0, as a^254 (a^255 = 1 in
// the multiplicative group of order 255). The addition chain is fixed:
// a^2, a^3, a^6, a^12, a^15, a^30, a^60, a^63, a^126, a^127, a^254.
func gfInv(a byte) byte {
	a2 := gfMul(a, a)
	a3 := gfMul(a2, a)
	a6 := gfMul(a3, a3)
	a12 := gfMul(a6, a6)
	a15 := gfMul(a12, a3)
	a30 := gfMul(a15, a15)
	a60 := gfMul(a30, a30)
	a63 := gfMul(a60, a3)
	a126 := gfMul(a63, a63)
	a127 := gfMul(a126, a)
	return gfMul(a127, a127)
}
