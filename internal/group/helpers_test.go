package group

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hush-chat/hush/internal/identity"
)

// user is one member modelled in-process: identity, group log, own sending
// chain and receiving chains, as a client would hold them.
type user struct {
	name   string
	priv   *identity.IdentityPrivateKey
	log    *Log
	sender *Sender
	ring   *Keyring
}

func newUser(t testing.TB, name string) *user {
	t.Helper()
	priv, err := identity.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return &user{name: name, priv: priv}
}

func (u *user) member(devices ...uint32) Member {
	if len(devices) == 0 {
		devices = []uint32{1}
	}
	return Member{Name: u.name, Identity: [32]byte(u.priv.Public().Bytes()), Role: RoleMember, Devices: devices}
}

func (u *user) addr() Address { return Address{User: u.name, Device: 1} }

// join sets u up from a state it was given (created or caught up).
func (u *user) join(t testing.TB, st *State) {
	t.Helper()
	u.log = NewLog(st)
	u.ring = NewKeyring(st.ID())
	u.rotate(t)
}

// rotate makes a new sending chain for the current epoch.
func (u *user) rotate(t testing.TB) {
	t.Helper()
	s, err := NewSender(u.log.Current().ID(), u.log.Current().Version())
	if err != nil {
		t.Fatal(err)
	}
	u.sender = s
}

// distribute hands u's current chain to each of to, as over pairwise
// sessions (through the encoding).
func (u *user) distribute(t testing.TB, to ...*user) {
	t.Helper()
	enc := u.sender.Distribution().Marshal()
	for _, r := range to {
		d, err := ParseDistribution(enc)
		if err != nil {
			t.Fatal(err)
		}
		if !r.log.Current().HasDevice(u.name, 1) {
			t.Fatalf("%s distributes to %s but is not a member in its state", u.name, r.name)
		}
		if err := r.ring.Add(u.addr(), d); err != nil {
			t.Fatal(err)
		}
	}
}

func (u *user) send(t testing.TB, text string) []byte {
	t.Helper()
	m, err := u.sender.Encrypt([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (u *user) read(t testing.TB, from *user, msg []byte, want string) {
	t.Helper()
	got, err := u.ring.Decrypt(msg)
	if err != nil {
		t.Fatalf("%s reading %s: %v", u.name, from.name, err)
	}
	if string(got.Plaintext) != want || got.From != from.addr() {
		t.Fatalf("%s read %q from %v, want %q from %s", u.name, got.Plaintext, got.From, want, from.name)
	}
}

func (u *user) propose(t testing.TB, op Op) *Change {
	t.Helper()
	c, _, err := Propose(u.log.Current(), u.name, u.priv, op)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// receive delivers an encoded change to u's log.
func (u *user) receive(t testing.TB, c *Change) ([]*Change, error) {
	t.Helper()
	p, err := ParseChange(c.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	return u.log.Receive(p)
}

func mustReceive(t testing.TB, c *Change, us ...*user) {
	t.Helper()
	for _, u := range us {
		if _, err := u.receive(t, c); err != nil {
			t.Fatalf("%s applying %s: %v", u.name, c.Kind, err)
		}
	}
}

// newGroup creates a group of admin creator and members, each set up with
// a log and keyring and with every chain distributed to every member.
func newGroup(t testing.TB, typ Type, creator *user, members ...*user) {
	t.Helper()
	var ms []Member
	for _, m := range members {
		ms = append(ms, m.member())
	}
	st, c, err := Create(creator.priv, creator.member(), "friends", typ, ms)
	if err != nil {
		t.Fatal(err)
	}
	creator.join(t, st)
	for _, m := range members {
		p, err := ParseChange(c.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		got, err := Apply(nil, p)
		if err != nil {
			t.Fatal(err)
		}
		m.join(t, got)
	}
	all := append([]*user{creator}, members...)
	for _, u := range all {
		u.distribute(t, others(u, all)...)
	}
}

func others(u *user, all []*user) []*user {
	var out []*user
	for _, o := range all {
		if o != u {
			out = append(out, o)
		}
	}
	return out
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

func sameState(t testing.TB, us ...*user) {
	t.Helper()
	want := us[0].log.Current().Marshal()
	for _, u := range us[1:] {
		if got := u.log.Current().Marshal(); !bytes.Equal(got, want) {
			t.Fatalf("%s and %s hold different states", us[0].name, u.name)
		}
	}
}
