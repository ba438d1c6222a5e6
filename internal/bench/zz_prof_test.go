package bench

import (
	"context"
	"os"
	"runtime/pprof"
	"testing"
)

func TestZZProfileReceive(t *testing.T) {
	if os.Getenv("HUSH_PROF") == "" {
		t.Skip()
	}
	f, _ := os.Create("/tmp/recv.prof")
	defer f.Close()
	started := false
	r, err := Receive(context.Background(), ReceiveOptions{Messages: 10000, Progress: func(s string) {
		if len(s) > 9 && s[:9] == "receiving" && !started {
			started = true
			pprof.StartCPUProfile(f)
		}
	}})
	pprof.StopCPUProfile()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
}
