package hush

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hush-chat/hush/internal/group"
	"github.com/hush-chat/hush/internal/localstore"
)

// secretGroups holds every group this profile belongs to (or belonged to),
// encrypted at rest like every secret.
const secretGroups = "groups"

// groupRecord is one group as stored. The membership is kept as a base
// state and the changes applied on top of it (at most group.MaxHistory),
// so the group.Log that resolves concurrent changes can be rebuilt exactly.
type groupRecord struct {
	ID      []byte   `json:"id"`
	Name    string   `json:"name"`    // the current state's name, for lookups
	Base    []byte   `json:"base"`    // group.State before Changes
	Changes [][]byte `json:"changes"` // applied changes, oldest first
	// Sender is the own sending chain (group.Sender, secret); nil until the
	// first message of an epoch, and reset when a member leaves so that the
	// next message starts a new epoch.
	Sender []byte `json:"sender,omitempty"`
	// Given lists the member devices already handed the current Sender,
	// as "user/device" (givenKey). Entries of older clients name users:
	// they match no device, so those devices are handed it once more.
	Given []string `json:"given,omitempty"`
	// Ring is the receiving group.Keyring (secret): the other members'
	// chains and skipped message keys.
	Ring []byte `json:"ring,omitempty"`
	// Requests are pending join requests (admins of request rooms).
	Requests [][]byte `json:"requests,omitempty"`
	// Published is the last version of a public room this admin listed
	// (group_public.go).
	Published uint64 `json:"published,omitempty"`
	// Gone is set when this user left or was removed.
	Gone bool `json:"gone,omitempty"`
	// Rebased are own changes that lost a race, remade on the winning
	// state and applied, still to be announced to the members (after the
	// transaction that stored them commits).
	Rebased []rebasedChange `json:"rebased,omitempty"`
	// Send are control messages to queue for members after the
	// transaction that made them commits: resend requests and answers
	// (group_resend.go).
	Send []controlToSend `json:"send,omitempty"`
	// Asked is the version at which this member last asked for the
	// changes it lacks; it asks again once its version moves.
	Asked uint64 `json:"asked,omitempty"`
	// Lost are public-room joins that lost a race to another join
	// (group.Log.Lost): a later change built on one brings it back.
	Lost [][]byte `json:"lost,omitempty"`
	// Joining is set while this user's own public-room join has not been
	// seen taken: no change was built on it and the room's listing does not
	// show it yet (confirmJoins).
	Joining bool `json:"joining,omitempty"`
}

// controlToSend is a control message waiting to be queued for a user.
type controlToSend struct {
	To   string `json:"to"`
	Msg  []byte `json:"msg"`
	What string `json:"what"`
}

// rebasedChange is an own change to announce: the state it applies to and
// the change.
type rebasedChange struct {
	Prev   []byte `json:"prev"`
	Change []byte `json:"change"`
}

func loadGroups(tx *localstore.Tx) ([]*groupRecord, error) {
	b, err := tx.GetSecret(secretGroups)
	if errors.Is(err, localstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var recs []*groupRecord
	return recs, decodeJSON(b, &recs, "group")
}

func saveGroups(tx *localstore.Tx, recs []*groupRecord) error {
	return tx.PutSecret(secretGroups, encodeJSON(recs))
}

// groupName strips the conversation prefix: "#team" and "team" name the
// same group.
func groupName(name string) string { return strings.TrimPrefix(name, "#") }

// findByName returns the current group called name.
func findByName(recs []*groupRecord, name string) (*groupRecord, error) {
	name = groupName(name)
	for _, r := range recs {
		if r.Name == name && !r.Gone {
			return r, nil
		}
	}
	return nil, fmt.Errorf("%w: no group #%s", ErrUnknownGroup, name)
}

func findByID(recs []*groupRecord, id group.ID) *groupRecord {
	for _, r := range recs {
		if bytes.Equal(r.ID, id[:]) {
			return r
		}
	}
	return nil
}

// log rebuilds the group's Log.
func (r *groupRecord) log() (*group.Log, error) {
	st, err := group.ParseState(r.Base)
	if err != nil {
		return nil, fmt.Errorf("client: corrupt group record: %w", err)
	}
	l := group.NewLog(st)
	for _, b := range r.Changes {
		ch, err := group.ParseChange(b)
		if err != nil {
			return nil, fmt.Errorf("client: corrupt group record: %w", err)
		}
		if _, err := l.Receive(ch); err != nil {
			return nil, fmt.Errorf("client: corrupt group record: %w", err)
		}
	}
	for _, b := range r.Lost {
		if ch, err := group.ParseChange(b); err == nil {
			l.Remember(ch)
		}
	}
	return l, nil
}

func (r *groupRecord) current() (*group.State, error) {
	l, err := r.log()
	if err != nil {
		return nil, err
	}
	return l.Current(), nil
}

// receive applies ch through the Log and mirrors the result in the record.
// It returns the states before and after, and the changes ch displaced
// (a concurrent change that won the race), for their authors to rebase.
func (r *groupRecord) receive(ch *group.Change) (old, next *group.State, dropped []*group.Change, err error) {
	l, err := r.log()
	if err != nil {
		return nil, nil, nil, err
	}
	old = l.Current()
	dropped, err = l.Receive(ch)
	r.Lost = r.Lost[:0]
	for _, j := range l.Lost() {
		r.Lost = append(r.Lost, j.Marshal())
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if len(dropped) > 0 {
		first := dropped[0].Marshal()
		i := slices.IndexFunc(r.Changes, func(b []byte) bool { return bytes.Equal(b, first) })
		if i < 0 {
			return nil, nil, nil, errors.New("client: group record and log disagree")
		}
		r.Changes = r.Changes[:i]
		if ch.Version != dropped[0].Version {
			// A lost join came back under ch (group.Log.Lost).
			r.Changes = append(r.Changes, l.Since(dropped[0].Version)[0].Marshal())
		}
		// The membership was rewritten: whoever the dropped changes let in
		// may hold the current chain, so the next message starts a new
		// epoch, handed to the members of the state that won.
		r.Sender, r.Given = nil, nil
	}
	r.Changes = append(r.Changes, ch.Marshal())
	for len(r.Changes) > group.MaxHistory {
		if err := r.advanceBase(); err != nil {
			return nil, nil, nil, err
		}
	}
	next = l.Current()
	r.Name = next.Name()
	return old, next, dropped, nil
}

func (r *groupRecord) advanceBase() error {
	st, err := group.ParseState(r.Base)
	if err != nil {
		return err
	}
	ch, err := group.ParseChange(r.Changes[0])
	if err != nil {
		return err
	}
	if st, err = group.Apply(st, ch); err != nil {
		return err
	}
	r.Base, r.Changes = st.Marshal(), r.Changes[1:]
	return nil
}

// afterChange updates the keys after the membership went from old to next:
// the chains of users who are gone are forgotten, and when anyone lost
// access the own Sender is dropped so that the next message starts a new
// epoch handed only to the remaining members.
func (r *groupRecord) afterChange(self string, old, next *group.State) error {
	if _, ok := next.Member(self); !ok {
		r.Gone, r.Sender, r.Given, r.Ring = true, nil, nil, nil
		return nil
	}
	r.Gone = false // a lost join, remade on the winning state
	if group.NeedsRotation(old, next) {
		r.Sender, r.Given = nil, nil
	}
	ring, err := r.keyring()
	if err != nil {
		return err
	}
	for _, m := range old.Members() {
		if _, ok := next.Member(m.Name); !ok {
			ring.Forget(m.Name)
		}
	}
	return r.saveRing(ring)
}

// keyring returns the stored receiving keyring.
func (r *groupRecord) keyring() (*group.Keyring, error) {
	ring := group.NewKeyring(group.ID(r.ID))
	if len(r.Ring) == 0 {
		return ring, nil
	}
	if err := ring.UnmarshalBinary(r.Ring); err != nil {
		return nil, fmt.Errorf("client: corrupt group keyring: %w", err)
	}
	return ring, nil
}

func (r *groupRecord) saveRing(ring *group.Keyring) error {
	b, err := ring.MarshalBinary()
	if err != nil {
		return err
	}
	r.Ring = b
	return nil
}
