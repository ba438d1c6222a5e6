package cli

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "version")
	if code != 0 || !strings.HasPrefix(out, "hush "+Version+" (protocol 1,") {
		t.Fatalf("exit %d, output %q", code, out)
	}
}

func TestBenchCryptoJSONHasEveryFigure(t *testing.T) {
	code, out, errOut := run(t, "bench", "crypto", "--json", "--time", "1ms", "--stream-mib", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"ratchet_encrypt_ns", "ratchet_decrypt_ns", "ratchet_pingpong_ns",
		"session_setup_ns", "sealed_envelope_ns", "multi_envelope_1000_ns",
		"stream_encrypt_mbps", "stream_decrypt_mbps"} {
		v, ok := got[k].(float64)
		if !ok || v <= 0 {
			t.Errorf("%s = %v, want a positive number", k, got[k])
		}
	}
	if got["cores"] != float64(runtime.GOMAXPROCS(0)) || got["stream_bytes"] != float64(2<<20) {
		t.Errorf("cores %v, stream_bytes %v", got["cores"], got["stream_bytes"])
	}
	if errOut != "" {
		t.Errorf("--json wrote to stderr: %q", errOut)
	}
}

func TestUsageErrorsAreOneLine(t *testing.T) {
	for _, args := range [][]string{{"bench", "crypto", "--no-such-flag"}, {"bench", "crypto", "--stream-mib", "0"}} {
		code, _, errOut := run(t, args...)
		if code != 2 || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "hush: ") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
	if code, _, errOut := run(t, "no-such-command"); code == 0 || !strings.HasPrefix(errOut, "hush: ") {
		t.Errorf("unknown command: exit %d, stderr %q", code, errOut)
	}
}

func TestBenchRelayJSON(t *testing.T) {
	code, out, errOut := run(t, "bench", "relay", "--json", "--clients", "4", "--time", "500ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := numbers(t, out)
	if got["messages_per_sec"] <= 0 || got["sent"] <= 0 || got["clients"] != 4 {
		t.Fatalf("result %v", got)
	}
	// Durable delivery: everything acknowledged arrived, once.
	if got["lost"] != 0 || got["duplicated"] != 0 || got["received"] != got["sent"] {
		t.Fatalf("lost %v, duplicated %v, sent %v, received %v", got["lost"], got["duplicated"], got["sent"], got["received"])
	}
	for _, k := range []string{"p50_ms", "p99_ms"} {
		if _, ok := got[k]; !ok {
			t.Errorf("missing %s", k)
		}
	}
}

func TestBenchDirectoryJSON(t *testing.T) {
	code, out, errOut := run(t, "bench", "directory", "--json", "--users", "300", "--time", "300ms", "--concurrency", "4")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := numbers(t, out)
	if got["lookups_per_sec"] <= 0 || got["users"] != 300 || got["verified"] < 1 {
		t.Fatalf("result %v", got)
	}
}

func TestServerRefusesBadConfig(t *testing.T) {
	code, _, errOut := run(t, "server", "--listen", "nonsense", "--data", t.TempDir())
	if code != 2 || !strings.Contains(errOut, "listen") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// numbers decodes one JSON object and keeps its numeric fields.
func numbers(t *testing.T, out string) map[string]float64 {
	t.Helper()
	var all map[string]any
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	got := map[string]float64{}
	for k, v := range all {
		if f, ok := v.(float64); ok {
			got[k] = f
		}
	}
	return got
}

func TestBenchGroupJSON(t *testing.T) {
	code, out, errOut := run(t, "bench", "group", "--json", "--members", "50", "--time", "300ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := numbers(t, out)
	// One body plus 16 bytes of routing per member, whatever the size.
	if got["send_ns"] <= 0 || got["deliveries_per_sec"] <= 0 || got["members"] != 50 ||
		got["upload_bytes"] < 50*16 || got["upload_bytes"] > 50*16+2048 {
		t.Fatalf("result %v", got)
	}
}
