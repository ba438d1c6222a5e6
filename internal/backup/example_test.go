package backup_test

import (
	"bytes"
	"fmt"

	"github.com/hush-chat/hush/internal/backup"
)

// oprf runs one OPRF round: Blind on the client, Evaluate on the server
// (which counts it against the account's limit), Finalize on the client.
func oprf(serverSecret []byte, username string, passphrase []byte) []byte {
	state, blinded, err := backup.Blind(passphrase)
	if err != nil {
		panic(err)
	}
	// --- over the network ---
	key, err := backup.ServerKey(serverSecret, username)
	if err != nil {
		panic(err)
	}
	evaluated, err := backup.Evaluate(key, blinded)
	if err != nil {
		panic(err)
	}
	// --- back on the client ---
	out, err := backup.Finalize(state, evaluated)
	if err != nil {
		panic(err)
	}
	return out
}

// A backup made on one machine and restored on another with the
// passphrase alone.
func Example() {
	serverSecret := bytes.Repeat([]byte{1}, backup.SecretSize) // the server's, from its config
	pass := []byte("correct horse battery staple")

	// hush backup create
	key, err := backup.NewKey(oprf(serverSecret, "alice", pass), backup.DefaultParams)
	if err != nil {
		panic(err)
	}
	b, err := backup.Seal("alice", []byte("identity seed, contacts…"), key, nil)
	if err != nil {
		panic(err)
	}
	upload := b.Bytes()

	// hush backup restore alice, on a new machine
	got, err := backup.Parse(upload)
	if err != nil {
		panic(err)
	}
	key, err = backup.KeyFor(got, oprf(serverSecret, "alice", pass))
	if err != nil {
		panic(err)
	}
	payload, err := backup.OpenWithKey(got, "alice", key)
	fmt.Printf("%s %v\n", payload, err)
	// Output: identity seed, contacts… <nil>
}
