package localstore

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func testTime(i int) time.Time {
	return time.Unix(1_800_000_000, 0).Add(time.Duration(i) * time.Second)
}

func TestSecretsRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		s, dir := newStoreOn(t, kind)
		update(t, s, func(tx *Tx) error {
			if _, err := tx.GetSecret("seed"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("missing secret: %v", err)
			}
			for name, v := range map[string]string{"seed": "one", "config": "two", "": "empty name", "empty": ""} {
				if err := tx.PutSecret(name, []byte(v)); err != nil {
					return err
				}
			}
			return tx.PutSecret("seed", []byte("replaced"))
		})
		s.Close()
		s = reopen(t, dir)
		view(t, s, func(tx *Tx) error {
			for name, want := range map[string]string{"seed": "replaced", "config": "two", "": "empty name", "empty": ""} {
				v, err := tx.GetSecret(name)
				if err != nil || string(v) != want || v == nil {
					t.Errorf("GetSecret(%q) = %q, %v; want %q", name, v, err, want)
				}
			}
			return nil
		})
	})
}

func TestContactsRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		s, _ := newStoreOn(t, kind)
		update(t, s, func(tx *Tx) error {
			if l, err := tx.ListContacts(); err != nil || len(l) != 0 {
				t.Fatalf("ListContacts of a new profile: %q, %v", l, err)
			}
			for _, u := range []string{"alice", "bob", "carol"} {
				if err := tx.PutContact(u, []byte("record of "+u)); err != nil {
					return err
				}
			}
			return tx.PutContact("bob", []byte("record of bob, v2"))
		})
		view(t, s, func(tx *Tx) error {
			if _, err := tx.GetContact("dave"); !errors.Is(err, ErrNotFound) {
				t.Errorf("GetContact(dave): %v", err)
			}
			if r, err := tx.GetContact("bob"); err != nil || string(r) != "record of bob, v2" {
				t.Errorf("GetContact(bob) = %q, %v", r, err)
			}
			l, err := tx.ListContacts()
			if err != nil {
				return err
			}
			got := make([]string, len(l))
			for i, r := range l {
				got[i] = string(r)
			}
			slices.Sort(got)
			want := []string{"record of alice", "record of bob, v2", "record of carol"}
			if !slices.Equal(got, want) {
				t.Errorf("ListContacts = %q, want %q", got, want)
			}
			return nil
		})
	})
}

func TestSessionsRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		s, _ := newStoreOn(t, kind)
		update(t, s, func(tx *Tx) error {
			for _, u := range []string{"alice", "bob"} {
				for d := uint32(1); d <= 3; d++ {
					if err := tx.PutSession(u, d, fmt.Appendf(nil, "%s/%d", u, d)); err != nil {
						return err
					}
				}
			}
			// A username ending in bytes that look like a device id must not
			// reach another (username, device) row.
			if err := tx.PutSession("alice\x00\x00\x00", 2, []byte("tricky")); err != nil {
				return err
			}
			return tx.PutSession("alice", 2, []byte("alice/2 v2"))
		})
		update(t, s, func(tx *Tx) error {
			if err := tx.DeleteSession("bob", 3); err != nil {
				return err
			}
			return tx.DeleteSession("nobody", 9) // not there: not an error
		})
		view(t, s, func(tx *Tx) error {
			for _, c := range []struct {
				u    string
				d    uint32
				want string
			}{{"alice", 1, "alice/1"}, {"alice", 2, "alice/2 v2"}, {"bob", 2, "bob/2"}, {"alice\x00\x00\x00", 2, "tricky"}} {
				if v, err := tx.GetSession(c.u, c.d); err != nil || string(v) != c.want {
					t.Errorf("GetSession(%q, %d) = %q, %v; want %q", c.u, c.d, v, err, c.want)
				}
			}
			if _, err := tx.GetSession("bob", 3); !errors.Is(err, ErrNotFound) {
				t.Errorf("deleted session: %v", err)
			}
			if _, err := tx.GetSession("carol", 1); !errors.Is(err, ErrNotFound) {
				t.Errorf("unknown session: %v", err)
			}
			return nil
		})
	})
}

func addMessages(t *testing.T, s *Store, conv string, ids ...string) {
	t.Helper()
	update(t, s, func(tx *Tx) error {
		for i, id := range ids {
			// Times run backwards: history follows insertion, not time.
			added, err := tx.AddMessage(conv, []byte(id), testTime(-i), []byte(conv+":"+id))
			if err != nil {
				return err
			}
			if !added {
				t.Fatalf("AddMessage(%s, %s) reported a duplicate", conv, id)
			}
		}
		return nil
	})
}

func history(t *testing.T, s *Store, conv string, limit int) string {
	t.Helper()
	var out []string
	view(t, s, func(tx *Tx) error {
		h, err := tx.History(conv, limit)
		for _, r := range h {
			out = append(out, string(r))
		}
		return err
	})
	return strings.Join(out, " ")
}

func TestHistoryOrderAndLimit(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		s, dir := newStoreOn(t, kind)
		addMessages(t, s, "bob", "b1", "b2")
		addMessages(t, s, "carol", "c1")
		addMessages(t, s, "bob", "b3", "b4", "b5")
		for _, c := range []struct {
			conv  string
			limit int
			want  string
		}{
			{"bob", 0, "bob:b1 bob:b2 bob:b3 bob:b4 bob:b5"},
			{"bob", -1, "bob:b1 bob:b2 bob:b3 bob:b4 bob:b5"},
			{"bob", 2, "bob:b4 bob:b5"},
			{"bob", 5, "bob:b1 bob:b2 bob:b3 bob:b4 bob:b5"},
			{"bob", 50, "bob:b1 bob:b2 bob:b3 bob:b4 bob:b5"},
			{"carol", 0, "carol:c1"},
			{"dave", 0, ""},
		} {
			if got := history(t, s, c.conv, c.limit); got != c.want {
				t.Errorf("History(%s, %d) = %q, want %q", c.conv, c.limit, got, c.want)
			}
		}
		s.Close()
		s = reopen(t, dir)
		addMessages(t, s, "bob", "b6")
		if got := history(t, s, "bob", 3); got != "bob:b4 bob:b5 bob:b6" {
			t.Errorf("History after reopen = %q", got)
		}
	})
}

func TestAddMessageDedupe(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		s, _ := newStoreOn(t, kind)
		addMessages(t, s, "bob", "m1", "m2")
		update(t, s, func(tx *Tx) error {
			added, err := tx.AddMessage("bob", []byte("m1"), testTime(9), []byte("a replay"))
			if err != nil || added {
				t.Fatalf("AddMessage of a stored id = %v, %v; want false", added, err)
			}
			// The same id in another conversation is another message.
			added, err = tx.AddMessage("carol", []byte("m1"), testTime(9), []byte("carol:m1"))
			if err != nil || !added {
				t.Fatalf("same id, other conversation = %v, %v; want true", added, err)
			}
			return nil
		})
		if got := history(t, s, "bob", 0); got != "bob:m1 bob:m2" {
			t.Fatalf("History after a duplicate = %q", got)
		}
	})
}

func TestUpdateMessageKeepsPlace(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		s, _ := newStoreOn(t, kind)
		addMessages(t, s, "bob", "m1", "m2", "m3")
		update(t, s, func(tx *Tx) error {
			if err := tx.UpdateMessage("bob", []byte("m1"), []byte("bob:m1 sent")); err != nil {
				return err
			}
			if err := tx.UpdateMessage("bob", []byte("nope"), []byte("x")); !errors.Is(err, ErrNotFound) {
				t.Errorf("UpdateMessage of a missing id: %v", err)
			}
			if err := tx.UpdateMessage("carol", []byte("m2"), []byte("x")); !errors.Is(err, ErrNotFound) {
				t.Errorf("UpdateMessage in the wrong conversation: %v", err)
			}
			return nil
		})
		if got := history(t, s, "bob", 0); got != "bob:m1 sent bob:m2 bob:m3" {
			t.Fatalf("History = %q", got)
		}
	})
}

func TestMarkSeen(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		s, dir := newStoreOn(t, kind)
		mark := func(s *Store, src string, seq int64) bool {
			var already bool
			update(t, s, func(tx *Tx) (err error) {
				already, err = tx.MarkSeen(src, seq)
				return err
			})
			return already
		}
		if mark(s, "relay", 5) || !mark(s, "relay", 5) {
			t.Fatal("MarkSeen: first mark not new, or second not already seen")
		}
		if mark(s, "mqtt", 5) {
			t.Fatal("sources are not independent")
		}
		s.Close()
		s = reopen(t, dir)
		if !mark(s, "relay", 5) || !mark(s, "mqtt", 5) {
			t.Fatal("seen marks lost on reopen")
		}
	})
}

func TestMarkSeenKeepsNewest(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		s, _ := newStoreOn(t, kind)
		s.keepSeen = 64
		update(t, s, func(tx *Tx) error {
			for seq := int64(1); seq <= 500; seq++ {
				if already, err := tx.MarkSeen("relay", seq); err != nil || already {
					return fmt.Errorf("MarkSeen(%d) = %v, %v", seq, already, err)
				}
			}
			_, err := tx.MarkSeen("other", 1)
			return err
		})
		update(t, s, func(tx *Tx) error {
			for seq := int64(500 - 64 + 1); seq <= 500; seq++ {
				if already, err := tx.MarkSeen("relay", seq); err != nil || !already {
					t.Fatalf("newest mark %d forgotten: %v, %v", seq, already, err)
				}
			}
			if already, err := tx.MarkSeen("other", 1); err != nil || !already {
				t.Fatalf("another source's mark was pruned: %v, %v", already, err)
			}
			var n int
			if err := tx.tx.Scan(tSeenSeqs, nil, nil, false, func(k, v []byte) error { n++; return nil }); err != nil {
				return err
			}
			if n > 64+1+1 {
				t.Fatalf("%d seen rows kept, want at most %d", n, 64+1+1)
			}
			if already, err := tx.MarkSeen("relay", 1); err != nil || already {
				t.Fatalf("a pruned mark still reported as seen: %v, %v", already, err)
			}
			return nil
		})
	})
}

func TestValuesReturnedAreCopies(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		s, _ := newStoreOn(t, kind)
		rec := []byte("original")
		update(t, s, func(tx *Tx) error { return tx.PutContact("a", rec) })
		rec[0] = 'X'
		view(t, s, func(tx *Tx) error {
			v, err := tx.GetContact("a")
			if err != nil || !bytes.Equal(v, []byte("original")) {
				t.Fatalf("GetContact = %q, %v", v, err)
			}
			return nil
		})
	})
}
