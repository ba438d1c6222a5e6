package proto

// OpPublish is the "op" of a signed room publication.
const OpPublish = "publish_room"

// Publication is the signed payload of POST /v1/rooms (doc/API.md §6),
// signed like a directory request (SignRequest) by the identity key of
// one of the room's admins. GET /v1/rooms/{id} serves it back as the
// SignedRequest the admin sent.
type Publication struct {
	RequestHeader
	RoomID string `json:"room_id"` // hex of the group id
	Name   string `json:"name"`
	State  []byte `json:"state"` // the encoded group state (doc/SPEC.md §11)
}

// Summary is one room of GET /v1/rooms.
type Summary struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Members int    `json:"members"`
	Version uint64 `json:"version"`
}

// RoomsAnswer is the answer of GET /v1/rooms.
type RoomsAnswer struct {
	Rooms []Summary `json:"rooms"`
}
