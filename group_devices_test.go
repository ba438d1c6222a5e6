package hush

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/group"
	"github.com/hush-chat/hush/internal/localstore"
)

// linkDevice links a new device of c's account at home, approved by c.
func linkDevice(t *testing.T, c *Client, home string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	link, err := StartLink(ctx, Options{Home: home, Passphrase: []byte("p-link"), ServerURL: c.prof.ServerURL})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		c   *Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := link.Wait(ctx)
		done <- result{n, err}
	}()
	req, err := c.InspectLink(ctx, link.Code())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ApproveLink(ctx, req); err != nil {
		t.Fatalf("ApproveLink: %v", err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { r.c.Close() })
	return r.c
}

// A device linked after a group formed knows the group, is listed in it
// (its user's other device announced it), reads the group's next message
// and sends to it; every member reads what it sends, its own user's other
// device included. Removed, it reads nothing new of the group.
func TestGroupLinkedDeviceJoinsGroups(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob")
	alice, bob := cs[0], cs[1]
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	mustSend(t, alice, "#team", "before the phone")
	if got := syncTexts(t, bob); !slices.Equal(got, []string{"#team:alice:before the phone"}) {
		t.Fatalf("bob got %q", got)
	}
	mustSend(t, bob, "#team", "bob before the phone")
	syncTexts(t, alice)

	phone := linkDevice(t, bob, filepath.Join(t.TempDir(), "bob-phone"))
	gs, err := phone.Groups(ctx)
	if err != nil || len(gs) != 1 || gs[0].Name != "team" {
		t.Fatalf("the phone's groups: %+v, %v", gs, err)
	}
	// The provisioning carries no sending chain: the phone makes its own.
	if r := groupRecordOf(t, phone, "team"); r.Sender != nil || len(r.Given) != 0 {
		t.Fatalf("the phone holds the approving device's sender: %+v", r)
	}
	if st := groupState(t, phone, "team"); !st.HasDevice("bob", phone.DeviceID()) || !st.HasDevice("bob", bob.DeviceID()) {
		t.Fatalf("the phone's state does not list both of bob's devices: %+v", st.Members())
	}
	// alice applies bob's "devices" change.
	syncTexts(t, alice)
	if st := groupState(t, alice, "team"); !st.HasDevice("bob", phone.DeviceID()) {
		t.Fatal("alice's state does not list bob's phone")
	}

	mustSend(t, alice, "#team", "hello phone")
	if got := syncTexts(t, phone); !slices.Contains(got, "#team:alice:hello phone") {
		t.Fatalf("the phone got %q", got)
	}
	if got := syncTexts(t, bob); !slices.Equal(got, []string{"#team:alice:hello phone"}) {
		t.Fatalf("bob's laptop got %q", got)
	}

	mustSend(t, phone, "#team", "from the phone")
	if got := syncTexts(t, alice); !slices.Equal(got, []string{"#team:bob:from the phone"}) {
		t.Fatalf("alice got %q", got)
	}
	// Bob's own message from the phone is no news to his laptop: its
	// history shows it as sent.
	if got := syncTexts(t, bob); len(got) != 0 {
		t.Fatalf("bob's laptop got %q as new", got)
	}
	if h, err := bob.History(context.Background(), "#team", 0); err != nil || len(h) == 0 ||
		h[len(h)-1].Text != "from the phone" || !h[len(h)-1].Outgoing || h[len(h)-1].FromDevice != phone.DeviceID() {
		t.Fatalf("bob's laptop history %+v, %v", h, err)
	}
	// And the laptop's own messages reach the phone, as sent.
	mustSend(t, bob, "#team", "from the laptop")
	syncTexts(t, phone)
	if h, err := phone.History(context.Background(), "#team", 0); err != nil || len(h) == 0 ||
		h[len(h)-1].Text != "from the laptop" || !h[len(h)-1].Outgoing {
		t.Fatalf("the phone's history %+v, %v", h, err)
	}
	if got := syncTexts(t, alice); !slices.Equal(got, []string{"#team:bob:from the laptop"}) {
		t.Fatalf("alice got %q", got)
	}

	syncTexts(t, bob) // what the phone's session sent the laptop meanwhile
	// Security regression: a removed device reads nothing new of the group.
	if err := bob.RemoveDevice(ctx, phone.DeviceID()); err != nil {
		t.Fatal(err)
	}
	if st := groupState(t, bob, "team"); st.HasDevice("bob", phone.DeviceID()) {
		t.Fatal("bob's state still lists the removed phone")
	}
	syncTexts(t, alice)
	if st := groupState(t, alice, "team"); st.HasDevice("bob", phone.DeviceID()) {
		t.Fatal("alice's state still lists the removed phone")
	}
	mustSend(t, alice, "#team", "after the phone")
	mustSend(t, bob, "#team", "bob after the phone")
	envs := append(pending(t, bob), pending(t, alice)...)
	if got := syncTexts(t, bob); !slices.Equal(got, []string{"#team:alice:after the phone"}) {
		t.Fatalf("bob got %q", got)
	}
	for _, env := range envs {
		if env[0] != groupEnvelope {
			continue
		}
		if m, _ := phone.handle(ctx, env, nil); m != nil {
			t.Fatalf("the removed phone read %q", m.Text)
		}
	}
}

// A device linked to the group's creator reads the group too, and the
// creator's own state lists it without waiting for maintenance.
func TestGroupLinkedDeviceOfCreator(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob")
	alice, bob := cs[0], cs[1]
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	syncTexts(t, bob)
	tablet := linkDevice(t, alice, filepath.Join(t.TempDir(), "alice-tablet"))
	syncTexts(t, bob)
	mustSend(t, bob, "#team", "hi both")
	if got := syncTexts(t, tablet); !slices.Contains(got, "#team:bob:hi both") {
		t.Fatalf("the tablet got %q", got)
	}
	if got := syncTexts(t, alice); !slices.Equal(got, []string{"#team:bob:hi both"}) {
		t.Fatalf("alice got %q", got)
	}
}

// Records written when Given named users (not devices) still work: each
// member device is handed the current sender key once more, and reads.
func TestGroupLegacyPerUserGiven(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob")
	alice, bob := cs[0], cs[1]
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	mustSend(t, alice, "#team", "first")
	syncTexts(t, bob)
	// Rewrite alice's record as an older client stored it: per user.
	err := alice.st.Update(ctx, func(tx *localstore.Tx) error {
		recs, err := loadGroups(tx)
		if err != nil {
			return err
		}
		if len(recs[0].Given) != 1 || recs[0].Given[0] != givenKey("bob", bob.DeviceID()) {
			t.Errorf("given %q, want per device", recs[0].Given)
		}
		recs[0].Given = []string{"bob"}
		return saveGroups(tx, recs)
	})
	if err != nil {
		t.Fatal(err)
	}
	phone := linkDevice(t, bob, filepath.Join(t.TempDir(), "bob-phone"))
	syncTexts(t, alice)
	mustSend(t, alice, "#team", "second")
	if got := syncTexts(t, bob); !slices.Equal(got, []string{"#team:alice:second"}) {
		t.Fatalf("bob got %q", got)
	}
	if got := syncTexts(t, phone); !slices.Contains(got, "#team:alice:second") {
		t.Fatalf("the phone got %q", got)
	}
	r := groupRecordOf(t, alice, "team")
	want := []string{givenKey("bob", bob.DeviceID()), givenKey("bob", phone.DeviceID())}
	if g := slices.Sorted(slices.Values(r.Given)); !slices.Equal(g, want) {
		t.Fatalf("given %q, want %q", g, want)
	}
}

func groupRecordOf(t *testing.T, c *Client, name string) *groupRecord {
	t.Helper()
	var out *groupRecord
	err := c.st.View(context.Background(), func(tx *localstore.Tx) error {
		recs, err := loadGroups(tx)
		if err != nil {
			return err
		}
		out, err = findByName(recs, name)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Maintenance lists an account's device that a group's state lacks (a
// change that could not be made when it was linked, a group joined with
// one device), and never drops one on its own.
func TestGroupMaintenanceListsMissingDevice(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob")
	alice, bob := cs[0], cs[1]
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	syncTexts(t, bob)
	phone := linkDevice(t, alice, filepath.Join(t.TempDir(), "alice-phone"))
	// The state falls behind the account: only the laptop is listed.
	if err := alice.setGroupDevices(ctx, []uint32{alice.DeviceID()}, false); err != nil {
		t.Fatal(err)
	}
	if st := groupState(t, alice, "team"); st.HasDevice("alice", phone.DeviceID()) {
		t.Fatal("the phone is still listed")
	}
	syncTexts(t, alice) // maintenance
	if st := groupState(t, alice, "team"); !st.HasDevice("alice", phone.DeviceID()) {
		t.Fatal("maintenance did not list the phone again")
	}
	syncTexts(t, bob)
	if st := groupState(t, bob, "team"); !st.HasDevice("alice", phone.DeviceID()) {
		t.Fatal("bob's state does not list alice's phone")
	}
	mustSend(t, bob, "#team", "to both of alice's devices")
	if got := syncTexts(t, phone); !slices.Contains(got, "#team:bob:to both of alice's devices") {
		t.Fatalf("the phone got %q", got)
	}
}

// Beyond group.MaxDevices devices, a group lists the signing device and
// the lowest other ids; ids come sorted, without 0 or repeats.
func TestCapDevices(t *testing.T) {
	if got := capDevices([]uint32{3, 0, 1, 3}, 2); !slices.Equal(got, []uint32{1, 2, 3}) {
		t.Fatalf("capDevices = %v", got)
	}
	var many []uint32
	for d := uint32(1); d <= 20; d++ {
		many = append(many, d)
	}
	got := capDevices(many, 20)
	want := append([]uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, 20)
	if !slices.Equal(got, want) || len(got) != group.MaxDevices {
		t.Fatalf("capDevices = %v, want %v", got, want)
	}
}
