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
