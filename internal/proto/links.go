package proto

// LinkKeySize is the size of a link slot's public key: an X-Wing
// (ML-KEM-768 + X25519) HPKE public key.
const LinkKeySize = 1216

// LinkOpenRequest is the body of POST /v1/links.
type LinkOpenRequest struct {
	PublicKey []byte `json:"public_key"`
}

// LinkOpenAnswer is the answer of POST /v1/links.
type LinkOpenAnswer struct {
	ID        string `json:"id"`
	ExpiresAt int64  `json:"expires_at"` // Unix seconds
}

// LinkKeyAnswer is the answer of GET /v1/links/{id}.
type LinkKeyAnswer struct {
	PublicKey []byte `json:"public_key"`
}

// LinkAnswer is the body of POST /v1/links/{id}/answer and the answer of
// GET /v1/links/{id}/answer: the provisioning message, HPKE-sealed to the
// slot's key (doc/SPEC.md §3.8).
type LinkAnswer struct {
	Ciphertext []byte `json:"ciphertext"`
}

// RecoveryOpenRequest is the body of POST /v1/recovery: the user being
// recovered and the one-time key shares are sealed to.
type RecoveryOpenRequest struct {
	Username  string `json:"username"`
	PublicKey []byte `json:"public_key"`
}

// RecoveryKeyAnswer is the answer of GET /v1/recovery/{id}.
type RecoveryKeyAnswer struct {
	Username  string `json:"username"`
	PublicKey []byte `json:"public_key"`
}

// RecoveryAnswers is the answer of GET /v1/recovery/{id}/answers: every
// share posted so far, each sealed to the request's key.
type RecoveryAnswers struct {
	Ciphertexts [][]byte `json:"ciphertexts"`
}
