package rooms

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/testkit"

	"github.com/hush-chat/hush/internal/group"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/sqlstore"
	"github.com/hush-chat/hush/internal/server/store"
)

// env is the rooms service over real SQLite behind a real HTTP server.
type env struct {
	t     testing.TB
	clock *testkit.Clock
	st    *sqlstore.DB
	h     http.Handler
	srv   *httptest.Server
}

func newEnv(t testing.TB) *env {
	t.Helper()
	clock := testkit.NewClock(time.Unix(1_800_000_000, 0))
	db, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "hush.db"), sqlstore.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc, err := New(Config{Store: db, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	return &env{t: t, clock: clock, st: db, h: svc.Handler(), srv: srv}
}

func randBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// account registers an active account name and returns its identity key.
func (e *env) account(name string) *identity.IdentityPrivateKey {
	e.t.Helper()
	priv, err := identity.GenerateIdentity()
	if err != nil {
		e.t.Fatal(err)
	}
	a := store.Account{Username: name, IdentityKey: priv.Public().Bytes(), KeyVersion: 1, State: store.StateActive, CreatedAt: e.clock.Now()}
	d := store.Device{Username: name, DeviceID: 1, Cert: randBytes(e.t, 100), Mailbox: hex.EncodeToString(randBytes(e.t, 16))}
	pk := func(id uint32) store.PreKey { return store.PreKey{KeyID: id, Data: randBytes(e.t, 32)} }
	if err := e.st.CreateAccount(context.Background(), a, d, pk(1), pk(2), false); err != nil {
		e.t.Fatalf("account %s: %v", name, err)
	}
	return priv
}

func member(name string, priv *identity.IdentityPrivateKey) group.Member {
	return group.Member{Name: name, Identity: [32]byte(priv.Public().Bytes()), Role: group.RoleMember, Devices: []uint32{1}}
}

// room creates a public room name with admin as its creator and others as
// members.
func room(t testing.TB, admin string, priv *identity.IdentityPrivateKey, name string, typ group.Type, others ...group.Member) *group.State {
	t.Helper()
	st, _, err := group.Create(priv, member(admin, priv), name, typ, others)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// rename moves st one version on, renamed by admin.
func rename(t testing.TB, st *group.State, admin string, priv *identity.IdentityPrivateKey, name string) *group.State {
	t.Helper()
	_, next, err := group.Propose(st, admin, priv, group.Op{Kind: group.KindRename, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return next
}

func roomID(st *group.State) string { id := st.ID(); return hex.EncodeToString(id[:]) }

// publication is the payload publishing st, signed now by username.
func (e *env) publication(username string, st *group.State) *proto.Publication {
	return &proto.Publication{RequestHeader: proto.RequestHeader{Op: proto.OpPublish, Username: username, Timestamp: e.clock.Now().Unix()},
		RoomID: roomID(st), Name: st.Name(), State: st.Marshal()}
}

func sign(t testing.TB, key *identity.IdentityPrivateKey, payload any) []byte {
	t.Helper()
	body, err := proto.SignRequest(key, payload)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// signRaw signs payload bytes as they are, for payloads JSON would not
// produce.
func signRaw(t testing.TB, key *identity.IdentityPrivateKey, payload []byte) []byte {
	t.Helper()
	b, err := json.Marshal(proto.SignedRequest{Payload: payload, Signature: key.Sign(proto.LabelRequest, payload)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// do sends a request and returns the status and body.
func (e *env) do(method, path string, body []byte) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, b
}

func (e *env) post(body []byte) (int, []byte) { e.t.Helper(); return e.do("POST", "/v1/rooms", body) }

// mustPublish publishes st signed by username and checks the summary.
func (e *env) mustPublish(username string, key *identity.IdentityPrivateKey, st *group.State) []byte {
	e.t.Helper()
	body := sign(e.t, key, e.publication(username, st))
	status, resp := e.post(body)
	if status != http.StatusOK {
		e.t.Fatalf("publish %s v%d: %d %s", st.Name(), st.Version(), status, resp)
	}
	var s proto.Summary
	if err := json.Unmarshal(resp, &s); err != nil {
		e.t.Fatal(err)
	}
	want := proto.Summary{ID: roomID(st), Name: st.Name(), Members: len(st.Members()), Version: st.Version()}
	if s != want {
		e.t.Fatalf("publish answered %+v, want %+v", s, want)
	}
	return body
}

func (e *env) list(query string) []proto.Summary {
	e.t.Helper()
	status, body := e.do("GET", "/v1/rooms"+query, nil)
	if status != http.StatusOK {
		e.t.Fatalf("GET /v1/rooms%s: %d %s", query, status, body)
	}
	var out struct{ Rooms []proto.Summary }
	if err := json.Unmarshal(body, &out); err != nil {
		e.t.Fatal(err)
	}
	return out.Rooms
}

// listing returns the stored signed listing of id.
func (e *env) listing(id string) []byte {
	e.t.Helper()
	status, body := e.do("GET", "/v1/rooms/"+id, nil)
	if status != http.StatusOK {
		e.t.Fatalf("GET room %s: %d %s", id, status, body)
	}
	return body
}

// wantError checks an error answer's status and code.
func wantError(t testing.TB, what string, status int, body []byte, wantStatus int, wantCode string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%s: status %d, body not an error: %s", what, status, body)
	}
	if status != wantStatus || e.Error.Code != wantCode {
		t.Fatalf("%s: got %d %q (%s), want %d %q", what, status, e.Error.Code, e.Error.Message, wantStatus, wantCode)
	}
}

// sameJSON reports whether a and b are the same JSON value (the server
// may re-encode the listing it stores).
func sameJSON(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y proto.SignedRequest
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		t.Fatalf("not signed requests: %s / %s", a, b)
	}
	return bytes.Equal(x.Payload, y.Payload) && bytes.Equal(x.Signature, y.Signature)
}

func TestPublishListAndGet(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.account("alice"), e.account("bob")
	lobby := room(t, "alice", alice, "lobby", group.Public, member("bob", bob))
	attic := room(t, "bob", bob, "attic", group.Public)
	v1 := e.mustPublish("alice", alice, lobby)
	e.mustPublish("bob", bob, attic)

	got := e.list("")
	if len(got) != 2 || got[0].Name != "attic" || got[1] != (proto.Summary{ID: roomID(lobby), Name: "lobby", Members: 2, Version: 1}) {
		t.Fatalf("list = %+v, want attic then lobby", got)
	}
	if got := e.list("?limit=1"); len(got) != 1 || got[0].Name != "attic" {
		t.Fatalf("list limit 1 = %+v", got)
	}
	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=x"} {
		status, body := e.do("GET", "/v1/rooms"+q, nil)
		wantError(t, "list "+q, status, body, http.StatusBadRequest, "bad_request")
	}

	// The listing is served exactly as signed: a joiner verifies it with
	// the admin's key.
	l := e.listing(roomID(lobby))
	if !sameJSON(t, l, v1) {
		t.Fatalf("listing %s differs from the published %s", l, v1)
	}
	var sr proto.SignedRequest
	var p proto.Publication
	if err := json.Unmarshal(l, &sr); err != nil {
		t.Fatal(err)
	}
	if err := alice.Public().Verify(proto.LabelRequest, sr.Payload, sr.Signature); err != nil {
		t.Fatalf("served listing does not verify under the admin's key: %v", err)
	}
	if err := json.Unmarshal(sr.Payload, &p); err != nil || !bytes.Equal(p.State, lobby.Marshal()) {
		t.Fatalf("served state differs from the published one (%v)", err)
	}
	status, body := e.do("GET", "/v1/rooms/"+strings.Repeat("0", 32), nil)
	wantError(t, "get unknown room", status, body, http.StatusNotFound, "unknown_room")

	// A newer version replaces the listing.
	hall := rename(t, lobby, "alice", alice, "hall")
	v2 := e.mustPublish("alice", alice, hall)
	if got := e.list(""); len(got) != 2 || got[1] != (proto.Summary{ID: roomID(lobby), Name: "hall", Members: 2, Version: 2}) {
		t.Fatalf("list after rename = %+v", got)
	}
	if !sameJSON(t, e.listing(roomID(lobby)), v2) {
		t.Fatal("listing not replaced by the newer version")
	}
}

func TestSecurityNonAdminSignerRefused(t *testing.T) {
	e := newEnv(t)
	alice, bob, carol := e.account("alice"), e.account("bob"), e.account("carol")
	lobby := room(t, "alice", alice, "lobby", group.Public, member("bob", bob))
	// bob is a member, not an admin; carol is not a member at all.
	status, body := e.post(sign(t, bob, e.publication("bob", lobby)))
	wantError(t, "publish by a plain member", status, body, http.StatusForbidden, "not_admin")
	status, body = e.post(sign(t, carol, e.publication("carol", lobby)))
	wantError(t, "publish by a non-member", status, body, http.StatusForbidden, "not_admin")
	if got := e.list(""); len(got) != 0 {
		t.Fatalf("refused publications listed: %+v", got)
	}
	// Once listed, a plain member still cannot publish a newer version.
	e.mustPublish("alice", alice, lobby)
	hall := rename(t, lobby, "alice", alice, "hall")
	status, body = e.post(sign(t, bob, e.publication("bob", hall)))
	wantError(t, "newer version by a plain member", status, body, http.StatusForbidden, "not_admin")
}

func TestSecurityInactiveSignerRefused(t *testing.T) {
	e := newEnv(t)
	alice := e.account("alice")
	lobby := room(t, "alice", alice, "lobby", group.Public)
	if err := e.st.DeleteAccount(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	status, body := e.post(sign(t, alice, e.publication("alice", lobby)))
	wantError(t, "publish by a deleted account", status, body, http.StatusForbidden, "not_admin")
	ghost, err := identity.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	st := room(t, "ghost", ghost, "haunt", group.Public)
	status, body = e.post(sign(t, ghost, e.publication("ghost", st)))
	wantError(t, "publish by an unknown account", status, body, http.StatusForbidden, "not_admin")
}

// withID returns st's encoding with its group id replaced: a made-up
// state, since the server checks no history.
func withID(t testing.TB, st *group.State, id group.ID) []byte {
	t.Helper()
	b := st.Marshal()
	copy(b[1:1+group.IDSize], id[:]) // u8 encoding version || id
	if p, err := group.ParseState(b); err != nil || p.ID() != id {
		t.Fatalf("forging the id: %v", err)
	}
	return b
}

func TestSecurityTakeoverByMadeUpStateRefused(t *testing.T) {
	e := newEnv(t)
	alice, mallory := e.account("alice"), e.account("mallory")
	lobby := room(t, "alice", alice, "lobby", group.Public)
	v1 := e.mustPublish("alice", alice, lobby)

	// mallory makes up a newer state of alice's room in which she is the
	// only admin; it parses, carries the same id and name, and is signed
	// by mallory's current key.
	fake := room(t, "mallory", mallory, "x", group.Public)
	fake = rename(t, rename(t, fake, "mallory", mallory, "y"), "mallory", mallory, "lobby")
	p := e.publication("mallory", fake)
	p.RoomID, p.State = roomID(lobby), withID(t, fake, lobby.ID())
	status, body := e.post(sign(t, mallory, p))
	wantError(t, "takeover by an admin of a made-up state", status, body, http.StatusForbidden, "not_admin")
	if !sameJSON(t, e.listing(roomID(lobby)), v1) {
		t.Fatal("listing changed by a refused takeover")
	}

	// Nor can she claim to be alice: a made-up state naming "alice" as an
	// admin under mallory's key does not match alice's account key.
	forged := room(t, "alice", mallory, "lobby", group.Public)
	status, body = e.post(sign(t, mallory, e.publication("alice", forged)))
	wantError(t, "admin listed under another key", status, body, http.StatusForbidden, "not_admin")
}

func TestSecurityReplayedOrOlderVersionRefused(t *testing.T) {
	e := newEnv(t)
	alice := e.account("alice")
	lobby := room(t, "alice", alice, "lobby", group.Public)
	v1 := e.mustPublish("alice", alice, lobby)
	v2 := e.mustPublish("alice", alice, rename(t, lobby, "alice", alice, "hall"))

	status, body := e.post(v2)
	wantError(t, "replay of the listed version", status, body, http.StatusConflict, "stale")
	status, body = e.post(v1)
	wantError(t, "replay of an older version", status, body, http.StatusConflict, "stale")
	status, body = e.post(sign(t, alice, e.publication("alice", lobby)))
	wantError(t, "fresh signature on an older version", status, body, http.StatusConflict, "stale")
	if !sameJSON(t, e.listing(roomID(lobby)), v2) {
		t.Fatal("an older version replaced the listing")
	}
}

func TestSecurityBadSignatureRefused(t *testing.T) {
	e := newEnv(t)
	alice, mallory := e.account("alice"), e.account("mallory")
	lobby := room(t, "alice", alice, "lobby", group.Public)

	status, body := e.post(sign(t, mallory, e.publication("alice", lobby)))
	wantError(t, "alice's publication signed by mallory", status, body, http.StatusUnauthorized, "bad_signature")

	var sr proto.SignedRequest
	if err := json.Unmarshal(sign(t, alice, e.publication("alice", lobby)), &sr); err != nil {
		t.Fatal(err)
	}
	sr.Signature[0] ^= 1
	flipped, _ := json.Marshal(sr)
	status, body = e.post(flipped)
	wantError(t, "flipped signature bit", status, body, http.StatusUnauthorized, "bad_signature")

	// A signature over other bytes: the payload altered after signing.
	sr.Signature[0] ^= 1
	ts := []byte(`"timestamp":1800000000`)
	if !bytes.Contains(sr.Payload, ts) {
		t.Fatalf("payload %s lacks %s", sr.Payload, ts)
	}
	sr.Payload = bytes.Replace(sr.Payload, ts, []byte(`"timestamp":1800000001`), 1)
	altered, _ := json.Marshal(sr)
	status, body = e.post(altered)
	wantError(t, "payload altered after signing", status, body, http.StatusUnauthorized, "bad_signature")
	if got := e.list(""); len(got) != 0 {
		t.Fatalf("badly signed publications listed: %+v", got)
	}
}

func TestSecurityStaleTimestampRefused(t *testing.T) {
	e := newEnv(t)
	alice := e.account("alice")
	lobby := room(t, "alice", alice, "lobby", group.Public)
	for _, skew := range []time.Duration{-6 * time.Minute, 6 * time.Minute} {
		p := e.publication("alice", lobby)
		p.Timestamp += int64(skew / time.Second)
		status, body := e.post(sign(t, alice, p))
		wantError(t, "timestamp off by "+skew.String(), status, body, http.StatusUnauthorized, "stale_request")
	}
	// A captured request replayed after the skew window is refused even
	// when no listing exists yet.
	captured := sign(t, alice, e.publication("alice", lobby))
	e.clock.Advance(proto.MaxClockSkew + time.Second)
	status, body := e.post(captured)
	wantError(t, "request replayed after the skew window", status, body, http.StatusUnauthorized, "stale_request")

	p := e.publication("alice", lobby)
	p.Timestamp -= 4 * 60
	if status, body := e.post(sign(t, alice, p)); status != http.StatusOK {
		t.Fatalf("timestamp within the skew refused: %d %s", status, body)
	}
}

func TestMalformedPublicationsRefused(t *testing.T) {
	e := newEnv(t)
	alice := e.account("alice")
	lobby := room(t, "alice", alice, "lobby", group.Public)
	private := room(t, "alice", alice, "lobby", group.Private)
	other := room(t, "alice", alice, "lobby", group.Public)
	valid, _ := json.Marshal(e.publication("alice", lobby))
	with := func(f func(p *proto.Publication)) *proto.Publication {
		p := e.publication("alice", lobby)
		f(p)
		return p
	}

	cases := []struct {
		name   string
		body   []byte
		status int
		code   string
	}{
		{"not JSON", []byte("publish"), 400, "bad_request"},
		{"empty body", nil, 400, "bad_request"},
		{"envelope with an unknown field", []byte(`{"payload":"e30=","signature":"","x":1}`), 400, "bad_request"},
		{"trailing data after the envelope", append(sign(t, alice, e.publication("alice", lobby)), []byte("{}")...), 400, "bad_request"},
		{"payload not JSON", signRaw(t, alice, []byte("lobby")), 400, "bad_request"},
		{"payload with an unknown field", signRaw(t, alice, append(valid[:len(valid)-1], []byte(`,"admin":true}`)...)), 400, "bad_request"},
		{"trailing data after the payload", signRaw(t, alice, append(append([]byte{}, valid...), []byte(" {}")...)), 400, "bad_request"},
		{"payload signed for another op", sign(t, alice, with(func(p *proto.Publication) { p.Op = proto.OpRegister })), 400, "bad_request"},
		{"invalid username", sign(t, alice, with(func(p *proto.Publication) { p.Username = "Alice!" })), 400, "bad_request"},
		{"state that does not parse", sign(t, alice, with(func(p *proto.Publication) { p.State = []byte{1, 2, 3} })), 400, "bad_state"},
		{"state with trailing bytes", sign(t, alice, with(func(p *proto.Publication) { p.State = append(p.State, 0) })), 400, "bad_state"},
		{"private group", sign(t, alice, e.publication("alice", private)), 400, "bad_state"},
		{"room id of another room", sign(t, alice, with(func(p *proto.Publication) { p.RoomID = roomID(other) })), 400, "bad_state"},
		{"room id in upper case", sign(t, alice, with(func(p *proto.Publication) { p.RoomID = strings.ToUpper(p.RoomID) })), 400, "bad_state"},
		{"name not the state's", sign(t, alice, with(func(p *proto.Publication) { p.Name = "hall" })), 400, "bad_state"},
		{"body over the limit", append([]byte(`{"payload":"`), bytes.Repeat([]byte("A"), maxBody)...), 413, "too_large"},
	}
	for _, c := range cases {
		status, body := e.post(c.body)
		wantError(t, c.name, status, body, c.status, c.code)
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/rooms", bytes.NewReader(sign(t, alice, e.publication("alice", lobby))))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantError(t, "wrong content type", resp.StatusCode, b, http.StatusUnsupportedMediaType, "bad_content_type")
	if got := e.list(""); len(got) != 0 {
		t.Fatalf("malformed publications listed: %+v", got)
	}
}

// FuzzPublishRequest feeds POST /v1/rooms arbitrary bodies against a store
// holding one account, alice. Whatever the body, the server answers
// without an internal error, and lists a room only on a publication that
// alice signed and whose state names her an admin.
func FuzzPublishRequest(f *testing.F) {
	e := newEnv(f)
	alice := e.account("alice")
	lobby := room(f, "alice", alice, "lobby", group.Public)
	hall := rename(f, lobby, "alice", alice, "hall")
	valid, _ := json.Marshal(e.publication("alice", lobby))
	seeds := [][]byte{
		sign(f, alice, e.publication("alice", lobby)),
		sign(f, alice, e.publication("alice", hall)),
		sign(f, alice, e.publication("alice", room(f, "alice", alice, "lobby", group.Private))),
		signRaw(f, alice, append(valid[:len(valid)-1], []byte(`,"x":1}`)...)),
		signRaw(f, alice, []byte(`{"op":"publish_room","username":"alice","timestamp":1800000000,"room_id":"","name":"","state":""}`)),
		[]byte(`{"payload":"e30=","signature":""}`), []byte(`{}`), []byte(`[]`), []byte(`{"payload":null}`),
	}
	if len(seeds) == 0 {
		f.Fatal("fuzz target without seeds")
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := httptest.NewRequest("POST", "/v1/rooms", bytes.NewReader(b))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("internal error %d for body %q: %s", w.Code, b, w.Body)
		}
		if w.Code != http.StatusOK {
			return
		}
		var sr proto.SignedRequest
		var p proto.Publication
		if json.Unmarshal(b, &sr) != nil || alice.Public().Verify(proto.LabelRequest, sr.Payload, sr.Signature) != nil {
			t.Fatalf("listed a publication alice did not sign: %q", b)
		}
		if json.Unmarshal(sr.Payload, &p) != nil {
			t.Fatalf("listed a payload that does not decode: %q", b)
		}
		if st, err := group.ParseState(p.State); err != nil || !st.IsAdmin("alice") {
			t.Fatalf("listed a state in which alice is not an admin: %q", b)
		}
	})
}
