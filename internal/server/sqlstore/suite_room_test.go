package sqlstore

import (
	"bytes"
	"testing"

	"github.com/hush-chat/hush/internal/server/store"
)

func testRooms(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	room := func(id, name string, v uint64, state string) store.Room {
		return store.Room{ID: id, Name: name, Members: int(v) + 1, Version: v, Listing: []byte(state)}
	}
	f.must(f.db.PutRoom(f.ctx, room("bb", "lobby", 2, "s2")))
	f.must(f.db.PutRoom(f.ctx, room("aa", "zoo", 1, "z1")))
	wantErr(t, "PutRoom with the same version", f.db.PutRoom(f.ctx, room("bb", "lobby", 2, "forged")), store.ErrStale)
	wantErr(t, "PutRoom with an older version", f.db.PutRoom(f.ctx, room("bb", "lobby", 1, "old")), store.ErrStale)
	wantErr(t, "PutRoom with version 0", f.db.PutRoom(f.ctx, room("cc", "x", 0, "s")), ErrInvalid)
	r, err := f.db.GetRoom(f.ctx, "bb")
	f.must(err)
	if r.Name != "lobby" || r.Version != 2 || r.Members != 3 || !bytes.Equal(r.Listing, []byte("s2")) || !r.UpdatedAt.Equal(f.now.Now()) {
		t.Fatalf("GetRoom after refused replacements = %+v", r)
	}
	f.must(f.db.PutRoom(f.ctx, room("bb", "hall", 3, "s3")))
	if r, err = f.db.GetRoom(f.ctx, "bb"); err != nil || r.Version != 3 || r.Name != "hall" || string(r.Listing) != "s3" {
		t.Fatalf("GetRoom after a newer listing = %+v, %v", r, err)
	}
	_, err = f.db.GetRoom(f.ctx, "nope")
	wantErr(t, "GetRoom(unknown)", err, store.ErrNotFound)
	list, err := f.db.ListRooms(f.ctx, 10)
	f.must(err)
	if len(list) != 2 || list[0].ID != "bb" || list[1].ID != "aa" || list[0].Listing != nil || list[1].Version != 1 {
		t.Fatalf("ListRooms = %+v", list)
	}
	if list, err = f.db.ListRooms(f.ctx, 1); err != nil || len(list) != 1 {
		t.Fatalf("ListRooms(limit 1) = %d rooms, %v", len(list), err)
	}
}
