package hush

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hush-chat/hush/internal/group"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/wire"
)

func groupClients(t *testing.T, names ...string) []*Client {
	t.Helper()
	srv := startServer(t)
	dir := t.TempDir()
	var cs []*Client
	for _, n := range names {
		cs = append(cs, create(t, Options{Home: filepath.Join(dir, n), Passphrase: []byte("p-" + n), ServerURL: srv.HTTPURL()}, n))
	}
	return cs
}

func syncTexts(t *testing.T, c *Client) []string {
	t.Helper()
	return syncRefusing(t, c, "")
}

// syncRefusing is syncTexts where envelopes refused for a reason
// containing refusal are expected (and reported by Sync); any other
// refusal fails the test.
func syncRefusing(t *testing.T, c *Client, refusal string) []string {
	t.Helper()
	ms, err := c.Sync(context.Background())
	var re *RefusedError
	if refusal != "" && errors.As(err, &re) && re.Err == nil {
		for _, r := range re.Reasons {
			if !strings.Contains(r.Error(), refusal) {
				t.Fatalf("%s sync: refused %v, want only %q", c.Username(), r, refusal)
			}
		}
		err = nil
	}
	if err != nil {
		t.Fatalf("%s sync: %v", c.Username(), err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Peer+":"+m.From+":"+m.Text)
	}
	return out
}

// pending returns c's pending envelopes without acknowledging them.
func pending(t *testing.T, c *Client) [][]byte {
	t.Helper()
	ctx := context.Background()
	tr, err := c.transport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tr.(*relayTransport).token(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	page, err := c.api.Fetch(ctx, s.Token, 0, 200)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, e := range page {
		out = append(out, e.Envelope)
	}
	return out
}

func mustSend(t *testing.T, c *Client, to, text string) {
	t.Helper()
	send := c.Send
	if g, ok := strings.CutPrefix(to, "#"); ok {
		send = func(ctx context.Context, _, text string) (*Message, error) { return c.Group(g).Send(ctx, text) }
	}
	if _, err := send(context.Background(), to, text); err != nil {
		t.Fatalf("%s send %s: %v", c.Username(), to, err)
	}
}

func TestGroupGrowsShrinksAndRotates(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob", "carol")
	alice, bob, carol := cs[0], cs[1], cs[2]
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	mustSend(t, alice, "#team", "before carol")
	oldEnvs := pending(t, bob)
	if got := syncTexts(t, bob); !slices.Equal(got, []string{"#team:alice:before carol"}) {
		t.Fatalf("bob got %q", got)
	}
	// The message carol was never sent: kept to show her later that she
	// cannot read it.
	mustSend(t, bob, "#team", "old secret")
	oldEnvs = append(oldEnvs, pending(t, alice)...)
	syncTexts(t, alice)

	if _, err := alice.AddMember(ctx, "team", "carol"); err != nil {
		t.Fatal(err)
	}
	mustSend(t, alice, "#team", "welcome")
	if got := syncTexts(t, carol); !slices.Equal(got, []string{"#team:alice:welcome"}) {
		t.Fatalf("carol got %q", got)
	}
	// Security regression: a newcomer cannot read what came before it joined.
	// alice's chain was handed to carol at a later iteration (the message
	// key is gone: a replay for her keyring); bob's chain never was.
	for _, env := range oldEnvs {
		if env[0] != groupEnvelope {
			continue
		}
		if m, _ := carol.handle(ctx, env, nil); m != nil {
			t.Fatalf("carol opened a message from before she joined: %q", m.Text)
		}
	}
	if h, _ := carol.History(ctx, "#team", 0); len(h) != 1 {
		t.Fatalf("carol history %+v", h)
	}
	syncTexts(t, bob)
	// History stays readable to those who had it.
	h, err := bob.History(ctx, "#team", 0)
	if err != nil || len(h) != 3 || h[0].Text != "before carol" || h[2].Text != "welcome" {
		t.Fatalf("bob history %+v %v", h, err)
	}

	// Carol is removed; her client keeps running and is fed every envelope.
	if _, err := alice.RemoveMember(ctx, "team", "carol"); err != nil {
		t.Fatal(err)
	}
	syncTexts(t, bob)
	mustSend(t, alice, "#team", "after carol")
	mustSend(t, bob, "#team", "bob after carol")
	// Security regression: a removed member decrypts nothing sent after
	// removal, even before it learns of the removal (its keys are the old
	// ones) and after (it is fed every envelope, its own included).
	envs := append(pending(t, bob), pending(t, alice)...)
	for _, env := range envs {
		if env[0] != groupEnvelope {
			continue
		}
		if m, err := carol.handle(ctx, env, nil); m != nil || !errors.Is(err, group.ErrUnknownKey) {
			t.Fatalf("removed carol: %+v %v", m, err)
		}
	}
	if got := syncRefusing(t, carol, "for a group this user is not in"); len(got) != 0 {
		t.Fatalf("removed carol got %q", got)
	}
	for _, env := range envs {
		if m, _ := carol.handle(ctx, env, nil); m != nil {
			t.Fatalf("removed carol read %q", m.Text)
		}
	}
	if got := syncTexts(t, bob); !slices.Equal(got, []string{"#team:alice:after carol"}) {
		t.Fatalf("bob got %q", got)
	}
	if got := syncTexts(t, alice); !slices.Equal(got, []string{"#team:bob:bob after carol"}) {
		t.Fatalf("alice got %q", got)
	}
	if gs, _ := carol.Groups(ctx); len(gs) != 0 {
		t.Fatalf("carol still lists %+v", gs)
	}
}

// forgeChange builds a change signed by c's identity key, as a member that
// is not an admin could.
func forgeChange(t *testing.T, c *Client, st *group.State, op group.Op) *group.Change {
	t.Helper()
	w := wire.NewWriter(nil)
	w.U8(0x01)
	id := st.ID()
	w.Fixed(id[:])
	w.U64(st.Version() + 1)
	h := st.Hash()
	w.Fixed(h[:])
	w.Bytes8([]byte(c.Username()))
	w.U8(uint8(op.Kind))
	w.Bytes8([]byte(op.Target))
	body := w.Bytes()
	ch, err := group.ParseChange(append(body, c.id.Sign("hush/v1 group change", body)...))
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestGroupForgedChangeRefused(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob", "carol")
	alice, bob, carol := cs[0], cs[1], cs[2]
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob", "carol"}); err != nil {
		t.Fatal(err)
	}
	syncTexts(t, bob)
	syncTexts(t, carol)
	before, _ := carol.GroupInfo(ctx, "#team")
	// The library refuses to sign for a non-admin.
	if _, err := bob.RemoveMember(ctx, "team", "carol"); !errors.Is(err, group.ErrForged) {
		t.Fatalf("bob removing carol: %v", err)
	}
	// Security regression: a member that is not an admin signs a removal
	// itself and sends it over its pairwise session; carol refuses it.
	ch := forgeChange(t, bob, groupState(t, bob, "team"), group.Op{Kind: group.KindRemove, Target: "carol"})
	if err := bob.sendControl(ctx, "carol", encodeGroupChange(nil, ch), "change"); err != nil {
		t.Fatal(err)
	}
	envs := pending(t, carol)
	if len(envs) != 1 {
		t.Fatalf("%d envelopes", len(envs))
	}
	if m, err := carol.handle(ctx, envs[0], nil); m != nil || !errors.Is(err, group.ErrForged) {
		t.Fatalf("forged change: %v %v", m, err)
	}
	after, _ := carol.GroupInfo(ctx, "#team")
	if after == nil || after.StateHash != before.StateHash || len(after.Members) != 3 {
		t.Fatalf("forged change applied: %+v", after)
	}
}

func groupState(t *testing.T, c *Client, name string) *group.State {
	t.Helper()
	var st *group.State
	err := c.st.View(context.Background(), func(tx *localstore.Tx) error {
		recs, err := loadGroups(tx)
		if err != nil {
			return err
		}
		r, err := findByName(recs, name)
		if err != nil {
			return err
		}
		st, err = r.current()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestGroupRequestRoom(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob", "dave")
	alice, bob, dave := cs[0], cs[1], cs[2]
	gi, err := alice.CreateGroup(ctx, "#lobby", GroupRequest, []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	syncTexts(t, bob)
	for _, u := range []*Client{bob, dave} {
		if err := u.RequestJoin(ctx, gi.ID, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	syncRefusing(t, alice, "already a member") // bob's request is refused; dave's kept
	if rs, err := alice.GroupRequests(ctx, "lobby"); err != nil || !slices.Equal(rs, []string{"dave"}) {
		t.Fatalf("requests %q %v", rs, err)
	}
	if _, err := alice.ApproveJoin(ctx, "lobby", "dave"); err != nil {
		t.Fatal(err)
	}
	mustSend(t, alice, "#lobby", "welcome dave")
	if got := syncTexts(t, dave); !slices.Equal(got, []string{"#lobby:alice:welcome dave"}) {
		t.Fatalf("dave got %q", got)
	}
	syncTexts(t, bob)
	d, _ := dave.GroupInfo(ctx, "lobby")
	b, _ := bob.GroupInfo(ctx, "lobby")
	if d == nil || b == nil || d.StateHash != b.StateHash || len(d.Members) != 3 {
		t.Fatalf("dave %+v bob %+v", d, b)
	}
	if err := alice.RejectJoin(ctx, "lobby", "dave"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("reject without request: %v", err)
	}
}

func TestGroupConcurrentChangesConverge(t *testing.T) {
	// Two admins change the same state at once. Whichever change loses the
	// race is remade by its author on the winning state, so in the end both
	// changes hold at every member: carol is out and dave is in.
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob", "carol", "dave")
	alice, bob, carol, dave := cs[0], cs[1], cs[2], cs[3]
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob", "carol"}); err != nil {
		t.Fatal(err)
	}
	syncTexts(t, bob)
	if _, err := alice.PromoteMember(ctx, "team", "bob"); err != nil {
		t.Fatal(err)
	}
	syncTexts(t, bob)
	syncTexts(t, carol)
	if _, err := alice.RemoveMember(ctx, "team", "carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.AddMember(ctx, "team", "dave"); err != nil {
		t.Fatal(err)
	}
	// Each learns of the other's change (the loser rebases and announces),
	// then each takes in the rebased change.
	for range 2 {
		syncRefusing(t, alice, "concurrent change lost")
		syncRefusing(t, bob, "concurrent change lost")
	}
	syncTexts(t, dave)
	a, _ := alice.GroupInfo(ctx, "team")
	b, _ := bob.GroupInfo(ctx, "team")
	d, _ := dave.GroupInfo(ctx, "team")
	if a == nil || b == nil || d == nil || a.StateHash != b.StateHash || b.StateHash != d.StateHash || a.Version != 4 {
		t.Fatalf("diverged:\nalice %+v\nbob %+v\ndave %+v", a, b, d)
	}
	var names []string
	for _, m := range a.Members {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"alice", "bob", "dave"}) {
		t.Fatalf("members %v, want alice bob dave", names)
	}
}
