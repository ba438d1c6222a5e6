package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server"
	"github.com/hush-chat/hush/internal/server/store"
)

// DirectoryOptions tunes `hush bench directory`.
type DirectoryOptions struct {
	Users       int           // registered users (default 100,000)
	Concurrency int           // parallel HTTP clients (default 32)
	Duration    time.Duration // how long to look up
	Progress    func(string)
}

// DirectoryResult is the JSON object `hush bench directory --json` prints.
type DirectoryResult struct {
	LookupsPerSec float64 `json:"lookups_per_sec"`
	P50ms         float64 `json:"p50_ms"`
	P99ms         float64 `json:"p99_ms"`
	Users         int     `json:"users"`
	Concurrency   int     `json:"concurrency"`
	Lookups       int64   `json:"lookups"`
	Verified      int64   `json:"verified"`
}

// Directory measures signed single-user lookups (GET /v1/users/{name})
// against an in-process server holding opts.Users accounts. The accounts
// are bulk-loaded through the store (registering 100,000 users through the
// API would measure registration, not lookup); one answer in a hundred is
// verified like a client does, so the signatures are known to be real.
func Directory(ctx context.Context, o DirectoryOptions) (*DirectoryResult, error) {
	if o.Users <= 0 {
		o.Users = 100_000
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	dir, err := os.MkdirTemp("", "hush-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	s, err := server.StartLocal(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer s.Shutdown(context.Background())
	o.Progress(fmt.Sprintf("loading %d users", o.Users))
	if err := seedUsers(ctx, s.Store(), o.Users); err != nil {
		return nil, err
	}
	key := s.PublicKey()

	o.Progress(fmt.Sprintf("looking up for %s with %d clients", o.Duration, o.Concurrency))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency}}
	var lookups, verified atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr atomic.Value
	deadline := time.Now().Add(o.Duration)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			var mine []time.Duration
			for i := 0; time.Now().Before(deadline); i++ {
				name := benchUsername(rng.IntN(o.Users))
				t0 := time.Now()
				body, err := get(client, s.HTTPURL()+"/v1/users/"+name)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				mine = append(mine, time.Since(t0))
				lookups.Add(1)
				if i%100 == 0 {
					a, err := proto.VerifyAnswer(key, body, time.Minute, time.Now())
					if err == nil {
						_, err = a.User(name)
					}
					if err != nil {
						firstErr.CompareAndSwap(nil, fmt.Errorf("answer for %s: %w", name, err))
						return
					}
					verified.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, err
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1e3
	}
	return &DirectoryResult{LookupsPerSec: float64(lookups.Load()) / elapsed.Seconds(), P50ms: pct(0.5), P99ms: pct(0.99),
		Users: o.Users, Concurrency: o.Concurrency, Lookups: lookups.Load(), Verified: verified.Load()}, nil
}

func benchUsername(i int) string { return fmt.Sprintf("user%07d", i) }

func get(c *http.Client, url string) ([]byte, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("lookup: HTTP %d", resp.StatusCode)
	}
	return b, nil
}

// seedUsers bulk-loads n accounts, each with its own identity key and a
// real device certificate (one device key pair is shared: generating 100,000
// ML-KEM keys would dominate the run and changes nothing in a lookup).
func seedUsers(ctx context.Context, st store.Store, n int) error {
	dev, err := identity.GenerateDevice(1)
	if err != nil {
		return err
	}
	helper, err := identity.GenerateIdentity()
	if err != nil {
		return err
	}
	ring, err := pqxdh.NewKeyring(helper, 1, time.Now().Unix())
	if err != nil {
		return err
	}
	spk, lr := ring.SignedPreKey(), ring.LastResort()
	const batch = 2000
	imports := make([]store.Import, 0, batch)
	for i := range n {
		id, err := identity.GenerateIdentity()
		if err != nil {
			return err
		}
		name := benchUsername(i)
		cert := identity.Certify(id, dev, time.Now().Unix())
		imports = append(imports, store.Import{
			Account: store.Account{Username: name, IdentityKey: id.Public().Bytes(), State: store.StateActive},
			Device:  store.Device{DeviceID: 1, Cert: cert.Marshal(), Mailbox: identity.MailboxID(id.Public(), 1)},
			Signed:  store.PreKey{KeyID: spk.ID, Data: spk.Marshal()}, LastResort: store.PreKey{KeyID: lr.ID, Data: lr.Marshal()},
		})
		if len(imports) == batch || i == n-1 {
			if err := st.ImportAccounts(ctx, imports); err != nil {
				return errors.Join(errors.New("loading users"), err)
			}
			imports = imports[:0]
		}
	}
	return nil
}
