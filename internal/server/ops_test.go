package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// leafOf returns the certificate the server presents to a new TLS
// handshake on addr.
func leafOf(t *testing.T, addr string, pool *x509.CertPool) []byte {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Raw
}

// swapCert copies the certificate and key of another pair over the files
// the server was started with, and returns a pool trusting both.
func swapCert(t *testing.T, certFile, keyFile string, pool *x509.CertPool) (*x509.CertPool, []byte) {
	t.Helper()
	c2, k2, _ := selfSigned(t)
	for dst, src := range map[string]string{certFile: c2, keyFile: k2} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pair, err := tls.LoadX509KeyPair(c2, k2)
	if err != nil {
		t.Fatal(err)
	}
	both := pool.Clone()
	both.AddCert(pair.Leaf)
	return both, pair.Leaf.Raw
}

// After the certificate files are replaced, ReloadTLS makes new
// handshakes on both listeners present the new certificate; a reload of
// broken files keeps the one in use.
func TestTLSReloadServesTheNewCertificate(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	cfg := Defaults()
	cfg.Listen, cfg.MQTTListen, cfg.DataDir, cfg.TLSCert, cfg.TLSKey = "127.0.0.1:0", "127.0.0.1:0", t.TempDir(), certFile, keyFile
	s, err := StartConfig(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	httpAddr := strings.TrimPrefix(s.HTTPURL(), "https://")
	mqttAddr := strings.TrimPrefix(s.MQTTURL(), "mqtts://")
	old := leafOf(t, httpAddr, pool)

	both, fresh := swapCert(t, certFile, keyFile, pool)
	if !bytes.Equal(leafOf(t, httpAddr, both), old) {
		t.Fatal("the certificate changed before any reload")
	}
	if err := s.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	for name, addr := range map[string]string{"http": httpAddr, "mqtt": mqttAddr} {
		if got := leafOf(t, addr, both); !bytes.Equal(got, fresh) {
			t.Fatalf("%s listener presents the old certificate after reload", name)
		}
	}
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.ReloadTLS(); err == nil {
		t.Fatal("a broken certificate file reloaded without error")
	}
	if got := leafOf(t, httpAddr, both); !bytes.Equal(got, fresh) {
		t.Fatal("a failed reload dropped the certificate in use")
	}
}

// logWaiter is a slog handler that reports each message on a channel.
type logWaiter struct{ msgs chan string }

func (h logWaiter) Enabled(context.Context, slog.Level) bool { return true }
func (h logWaiter) Handle(_ context.Context, r slog.Record) error {
	h.msgs <- r.Message
	return nil
}
func (h logWaiter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h logWaiter) WithGroup(string) slog.Handler      { return h }

// hush server (Run) reloads its certificate when it receives SIGHUP.
func TestSIGHUPReloadsTheCertificate(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	cfg := Defaults()
	cfg.Listen, cfg.MQTTListen, cfg.DataDir, cfg.TLSCert, cfg.TLSKey = "127.0.0.1:0", "127.0.0.1:0", t.TempDir(), certFile, keyFile
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	msgs := make(chan string, 100)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, pw, slog.New(logWaiter{msgs})) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	br := bufio.NewReader(pr)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, br)
	httpAddr := strings.TrimPrefix(strings.TrimSpace(line), "https://")
	both, fresh := swapCert(t, certFile, keyFile, pool)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for reloaded := false; !reloaded; {
		select {
		case m := <-msgs:
			reloaded = strings.Contains(m, "TLS certificate reloaded")
			if strings.Contains(m, "not reloaded") {
				t.Fatal(m)
			}
		case <-timeout:
			t.Fatal("no reload after SIGHUP")
		}
	}
	if got := leafOf(t, httpAddr, both); !bytes.Equal(got, fresh) {
		t.Fatal("the old certificate after SIGHUP")
	}
}

// Metrics are served only on metrics_listen, never on the API listener;
// without metrics_listen there are none.
func TestMetricsOnlyOnTheirOwnListener(t *testing.T) {
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cfg := Defaults()
	cfg.Listen, cfg.MQTTListen, cfg.DataDir, cfg.MetricsListen = "127.0.0.1:0", "127.0.0.1:0", t.TempDir(), "127.0.0.1:0"
	s, err := StartConfig(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	get(s.HTTPURL() + "/healthz")
	if code, _ := get(s.HTTPURL() + "/metrics"); code != http.StatusNotFound {
		t.Fatalf("/metrics on the API listener: %d", code)
	}
	if code, body := get(s.MetricsURL()); code != 200 || !strings.Contains(body, `hush_http_requests_total{code="200",route="/healthz"}`) {
		t.Fatalf("metrics listener: %d %.200s", code, body)
	}

	cfg.MetricsListen, cfg.DataDir = "", t.TempDir()
	s2, err := StartConfig(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Shutdown(context.Background())
	if s2.MetricsURL() != "" {
		t.Fatalf("metrics at %s without metrics_listen", s2.MetricsURL())
	}
	if code, _ := get(s2.HTTPURL() + "/metrics"); code != http.StatusNotFound {
		t.Fatalf("/metrics on the API listener without metrics_listen: %d", code)
	}
}

// log_format json writes one JSON object a line; text is the default.
func TestLogFormat(t *testing.T) {
	var b bytes.Buffer
	cfg := Defaults()
	cfg.LogFormat = "json"
	NewLogger(&b, cfg).Info("hello", "k", 1)
	var rec map[string]any
	if err := json.Unmarshal(b.Bytes(), &rec); err != nil || rec["msg"] != "hello" || rec["level"] != "INFO" || rec["k"] != 1.0 {
		t.Fatalf("json log line %q: %v", b.String(), err)
	}
	b.Reset()
	cfg.LogFormat = ""
	NewLogger(&b, cfg).Info("hello")
	if !strings.Contains(b.String(), "msg=hello") {
		t.Fatalf("text log line %q", b.String())
	}
	cfg.LogFormat = "xml"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "log_format") {
		t.Fatalf("log_format xml: %v", err)
	}
}

// The deployment settings come from the environment as every other does.
func TestDeploymentSettingsFromEnvironment(t *testing.T) {
	env := map[string]string{"HUSH_SERVER_SIGNING_KEY": "/run/credentials/hush.service/signing.key",
		"HUSH_SERVER_LOG_FORMAT": "json", "HUSH_SERVER_METRICS_LISTEN": "127.0.0.1:4875"}
	cfg := Defaults()
	if err := cfg.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if cfg.SigningKey != env["HUSH_SERVER_SIGNING_KEY"] || cfg.LogFormat != "json" || cfg.MetricsListen != "127.0.0.1:4875" {
		t.Fatalf("from the environment: %q %q %q", cfg.SigningKey, cfg.LogFormat, cfg.MetricsListen)
	}
	cfg.MetricsListen = "4875"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "metrics_listen") {
		t.Fatalf("metrics_listen without a host: %v", err)
	}
}
