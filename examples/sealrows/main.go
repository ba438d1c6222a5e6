// Command sealrows shows sealed data: one user seals rows of an
// application's table for a set of readers, the rows are kept as opaque
// blobs (here in memory; in an application, its database), and a reader
// opens them later, verifying who wrote each one.
//
//	go run ./examples/sealrows -server http://127.0.0.1:4874 -readers 2 "salary: 100" "salary: 120"
//
// It creates throwaway profiles (a writer, the readers, an outsider) under
// -dir (a temporary directory by default) on a server that registers
// without invitation.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hush-chat/hush"
)

func main() {
	server := flag.String("server", "http://127.0.0.1:4874", "hush server URL")
	dir := flag.String("dir", "", "where to create the demo profiles (default: a temporary directory)")
	readers := flag.Int("readers", 2, "number of reader accounts to seal the rows for")
	flag.Parse()
	rows := flag.Args()
	if len(rows) == 0 {
		rows = []string{"alice,engineering,100", "bob,sales,120", "carol,support,90"}
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "sealrows-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "sealrows:", err)
			os.Exit(1)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	if err := run(context.Background(), os.Stdout, *server, *dir, *readers, rows); err != nil {
		fmt.Fprintln(os.Stderr, "sealrows:", err)
		os.Exit(1)
	}
}

// run registers a writer, the readers and an outsider on serverURL
// (profiles under dir), seals every row for the readers, and opens the
// stored rows as the last reader and as the outsider.
func run(ctx context.Context, w io.Writer, serverURL, dir string, readers int, rows []string) error {
	if readers < 1 {
		return errors.New("at least one reader is needed")
	}
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		return err
	}
	newUser := func(role string) (*hush.Client, error) {
		name := role + "-" + hex.EncodeToString(suffix)
		o := hush.Options{Home: filepath.Join(dir, name), Passphrase: []byte("demo passphrase of " + name), ServerURL: serverURL}
		return hush.Create(ctx, o, name, "")
	}
	writer, err := newUser("writer")
	if err != nil {
		return err
	}
	defer writer.Close()
	var names []string
	var reader *hush.Client
	for i := range readers {
		c, err := newUser(fmt.Sprintf("reader%d", i+1))
		if err != nil {
			return err
		}
		defer c.Close()
		names, reader = append(names, c.Username()), c
	}
	outsider, err := newUser("outsider")
	if err != nil {
		return err
	}
	defer outsider.Close()

	// Look the readers up once: what the writer is about to trust.
	found, err := writer.FindUsers(ctx, names...)
	if err != nil {
		return err
	}
	for _, n := range names {
		fmt.Fprintf(w, "reader %s: key %s, %d device(s)\n", n, found[n].Fingerprint, len(found[n].Devices))
	}

	// The "table": row id → sealed blob, as an application would store it.
	table := make([][]byte, len(rows))
	for i, row := range rows {
		if table[i], err = writer.Seal(ctx, []byte(row), names...); err != nil {
			return fmt.Errorf("sealing row %d: %w", i+1, err)
		}
		fmt.Fprintf(w, "row %d sealed: %d bytes\n", i+1, len(table[i]))
	}

	for i, blob := range table {
		pt, from, err := reader.Unseal(ctx, blob)
		if err != nil {
			return fmt.Errorf("opening row %d as %s: %w", i+1, reader.Username(), err)
		}
		fmt.Fprintf(w, "row %d opened by %s: %q, sealed by %s\n", i+1, reader.Username(), pt, from)
	}
	if _, _, err := outsider.Unseal(ctx, table[0]); errors.Is(err, hush.ErrNotRecipient) {
		fmt.Fprintf(w, "row 1 refused to %s: not a recipient\n", outsider.Username())
	} else {
		return fmt.Errorf("the outsider was not refused as it should be: %v", err)
	}
	return nil
}
