package relay

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/sqlstore"
)

// After Submit returns, the envelope is in the database: reopening it
// (as after a crash and restart) shows it.
func TestSubmitDurable(t *testing.T) {
	e := newEnv(t, Limits{})
	bob := e.device(t, "bob")
	env := sealed(1000)
	seq, err := e.r.Submit(t.Context(), bob.mailbox, env)
	if err != nil {
		t.Fatal(err)
	}
	db2, err := sqlstore.Open(t.Context(), e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	got, err := db2.PendingEnvelopes(t.Context(), bob.mailbox, 0, 10)
	if err != nil || len(got) != 1 || got[0].Seq != seq || !bytes.Equal(got[0].Data, env) {
		t.Fatalf("reopened database: %v %+v", err, got)
	}
}

// Concurrent Submits are grouped into shared commits, and each caller
// gets its own result: successes and refusals are not mixed up.
func TestGroupCommitResults(t *testing.T) {
	e := newEnv(t, Limits{})
	bob, carol := e.device(t, "bob"), e.device(t, "carol")
	const n = 200
	var wg sync.WaitGroup
	seqs := make([]int64, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mb := bob.mailbox
			switch i % 4 {
			case 1:
				mb = carol.mailbox
			case 3:
				mb = randHex(16) // unknown
			}
			env := sealed(100)
			env[1] = byte(i)
			seqs[i], errs[i] = e.r.Submit(t.Context(), mb, env)
		}()
	}
	wg.Wait()
	seen := map[int64]bool{}
	for i := range n {
		if i%4 == 3 {
			if !errors.Is(errs[i], ErrUnknownMailbox) {
				t.Fatalf("submit %d to an unknown mailbox: %v", i, errs[i])
			}
			continue
		}
		if errs[i] != nil || seqs[i] <= 0 || seen[seqs[i]] {
			t.Fatalf("submit %d: seq %d err %v", i, seqs[i], errs[i])
		}
		seen[seqs[i]] = true
	}
	for _, env := range e.pending(t, bob.mailbox) {
		if i := int(env.Data[1]); seqs[i] != env.Seq {
			t.Fatalf("envelope %d stored with seq %d, its sender was told %d", i, env.Seq, seqs[i])
		}
	}
	if got := value(t, e.r.m.stored); got != 150 {
		t.Errorf("stored counter %v, want 150", got)
	}
	if got := value(t, e.r.m.rejects.WithLabelValues("unknown_mailbox")); got != 50 {
		t.Errorf("unknown_mailbox rejects %v, want 50", got)
	}
}

func TestSubmitValidation(t *testing.T) {
	e := newEnv(t, Limits{MaxEnvelope: 1000})
	bob := e.device(t, "bob")
	cases := []struct {
		mailbox string
		env     []byte
		want    error
	}{
		{bob.mailbox, sealed(1001), ErrTooLarge},
		{bob.mailbox, nil, ErrBadEnvelope},
		{bob.mailbox, []byte{0x00, 1}, ErrBadEnvelope},
		{bob.mailbox, []byte{0x7f, 1}, ErrBadEnvelope},
		{"", sealed(10), ErrUnknownMailbox},
		{"hush/v1/inbox/x", sealed(10), ErrUnknownMailbox},
		{randHex(16), sealed(10), ErrUnknownMailbox},
	}
	for _, c := range cases {
		if _, err := e.r.Submit(t.Context(), c.mailbox, c.env); !errors.Is(err, c.want) {
			t.Errorf("Submit(%q, %d bytes): %v, want %v", c.mailbox, len(c.env), err, c.want)
		}
	}
	if len(e.pending(t, bob.mailbox)) != 0 {
		t.Fatal("refused envelope stored")
	}
}

func TestExpireOld(t *testing.T) {
	e := newEnv(t, Limits{TTL: time.Hour})
	bob := e.device(t, "bob")
	if _, err := e.r.Submit(t.Context(), bob.mailbox, sealed(100)); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(30 * time.Minute)
	if _, err := e.r.Submit(t.Context(), bob.mailbox, sealed(100)); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(31 * time.Minute)
	if err := e.r.ExpireOld(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(e.pending(t, bob.mailbox)); n != 1 {
		t.Fatalf("%d envelopes left, want 1 (only the first expired)", n)
	}
	if got := value(t, e.r.m.expired); got != 1 {
		t.Errorf("expired counter %v", got)
	}
}

func TestCloseRefusesNewSends(t *testing.T) {
	e := newEnv(t, Limits{})
	bob := e.device(t, "bob")
	b := e.connect5(t, bob, false)
	if err := e.r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.r.Submit(t.Context(), bob.mailbox, sealed(100)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after Close: %v", err)
	}
	select {
	case <-b.c.Done():
	case <-time.After(waitTimeout):
		t.Fatal("client still connected after Close")
	}
	if _, err := e.r.ListenMQTT("127.0.0.1:0"); !errors.Is(err, ErrClosed) {
		t.Fatalf("ListenMQTT after Close: %v", err)
	}
	if err := e.r.Close(t.Context()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// Close answers every send it admitted before shutting the broker down.
func TestCloseDrainsAdmittedSends(t *testing.T) {
	e := newEnv(t, Limits{})
	bob := e.device(t, "bob")
	var wg sync.WaitGroup
	results := make(chan error, 100)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.r.Submit(context.Background(), bob.mailbox, sealed(100))
			results <- err
		}()
	}
	if err := e.r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(results)
	ok := 0
	for err := range results {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrClosed):
			t.Fatalf("send during Close: %v", err)
		}
	}
	if n := len(e.pending(t, bob.mailbox)); n != ok {
		t.Fatalf("%d sends acknowledged but %d stored", ok, n)
	}
}

func TestCollectorsRegister(t *testing.T) {
	e := newEnv(t, Limits{})
	reg := prometheus.NewRegistry()
	for _, c := range e.r.Collectors() {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	alice, bob := e.device(t, "alice"), e.device(t, "bob")
	b := e.connect5(t, bob, false)
	b.subscribe(proto.InboxTopic(bob.mailbox))
	e.connect5(t, alice, false).send(bob, sealed(300))
	seq, _ := b.nextDelivery()
	b.ack(bob.mailbox, seq)
	if got := value(t, e.r.m.connections); got != 2 {
		t.Errorf("connections %v, want 2", got)
	}
	if got := value(t, e.r.m.acked); got != 1 {
		t.Errorf("acked %v, want 1", got)
	}
	// Counted after the write returns, which may be after the client read it.
	waitFor(t, "delivered counter", func() bool { return value(t, e.r.m.delivered) >= 1 })
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	for _, want := range []string{"hush_relay_mqtt_connections", "hush_relay_envelopes_stored_total", "hush_relay_envelopes_delivered_total",
		"hush_relay_envelopes_acked_total", "hush_relay_store_commit_seconds", "hush_relay_rejects_total"} {
		if !names[want] {
			t.Errorf("metric %s not exported", want)
		}
	}
}

// value reads a counter or gauge.
func value(t testing.TB, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}
