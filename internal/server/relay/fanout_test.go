package relay

import (
	"bytes"
	"errors"
	"net/http"
	"testing"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/wire"
)

func TestFanoutStoresOneCopyPerMailbox(t *testing.T) {
	e := newEnv(t, Limits{})
	sender := e.device(t, "sender")
	var mailboxes []string
	for _, n := range []string{"m1", "m2", "m3"} {
		mailboxes = append(mailboxes, e.device(t, n).mailbox)
	}
	env := sealed(300)
	env[0] = 0x03 // a group message
	body, err := proto.EncodeFanout(append(mailboxes, "00000000000000000000000000000000"), env)
	if err != nil {
		t.Fatal(err)
	}
	var out proto.FanoutAnswer
	st, _ := e.call(t, sender, "POST", "/v1/fanout", "application/octet-stream", bytes.NewReader(body), &out)
	if st != http.StatusAccepted || len(out.Seqs) != 4 {
		t.Fatalf("fan-out: %d %+v", st, out)
	}
	for i, m := range mailboxes {
		got := e.pending(t, m)
		if len(got) != 1 || got[0].Seq != out.Seqs[i] || !bytes.Equal(got[0].Data, env) {
			t.Fatalf("mailbox %d holds %+v", i, got)
		}
	}
	if len(out.Errors) != 1 || out.Errors[0].Index != 3 || out.Errors[0].Code != "unknown_mailbox" || out.Seqs[3] != 0 {
		t.Fatalf("unknown mailbox not reported: %+v", out)
	}
}

func TestFanoutDecoderRefuses(t *testing.T) {
	m := "0123456789abcdef0123456789abcdef"
	good, _ := proto.EncodeFanout([]string{m}, []byte{0x03, 1, 2})
	if ms, env, err := DecodeFanout(good, 1024); err != nil || len(ms) != 1 || ms[0] != m || !bytes.Equal(env, []byte{0x03, 1, 2}) {
		t.Fatalf("round trip: %v %v %v", ms, env, err)
	}
	dup, _ := proto.EncodeFanout([]string{m, m}, []byte{0x03})
	for name, tc := range map[string]struct {
		b    []byte
		want error
	}{
		"empty":     {nil, wire.ErrTruncated},
		"version":   {append([]byte{9}, good[1:]...), wire.ErrVersion},
		"no count":  {[]byte{1, 0, 0}, wire.ErrMalformed},
		"short":     {good[:10], wire.ErrMalformed},
		"repeated":  {dup, wire.ErrMalformed},
		"too large": {append(bytes.Clone(good), make([]byte, 2000)...), ErrTooLarge},
	} {
		if _, _, err := DecodeFanout(tc.b, 1024); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
}

func FuzzDecodeFanout(f *testing.F) {
	good, _ := proto.EncodeFanout([]string{"0123456789abcdef0123456789abcdef"}, []byte{0x03, 1})
	for _, s := range [][]byte{good, good[:5], {1}, nil} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, env, err := DecodeFanout(b, 1<<20)
		if err != nil {
			return
		}
		re, err := proto.EncodeFanout(ms, env)
		if err != nil || !bytes.Equal(re, b) {
			t.Fatalf("re-encoding differs: %v", err)
		}
	})
}
