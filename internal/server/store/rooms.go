package store

import (
	"context"
	"time"
)

// Room is one listed public room: what an admin published of its group
// state (doc/API.md §6). The server never interprets the state beyond what
// the rooms handlers check; it is public by definition.
type Room struct {
	ID        string // 32 lowercase hex characters
	Name      string
	Members   int
	Version   uint64
	Listing   []byte // the admin's signed publication, carrying the encoded group state
	UpdatedAt time.Time
}

// Rooms holds the public room listing.
type Rooms interface {
	// PutRoom stores r, or replaces the stored room with the same ID when
	// r.Version is greater; otherwise it returns ErrStale and keeps the
	// stored one. A zero UpdatedAt means now.
	PutRoom(ctx context.Context, r Room) error
	// GetRoom returns the room with this ID, or ErrNotFound.
	GetRoom(ctx context.Context, id string) (*Room, error)
	// ListRooms returns up to limit rooms, ordered by name then ID, with
	// State left nil.
	ListRooms(ctx context.Context, limit int) ([]Room, error)
}
