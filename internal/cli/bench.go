package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/hush-chat/hush/internal/bench"
	"github.com/spf13/cobra"
)

func newBenchCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure hush on this machine",
	}
	c.AddCommand(newBenchCryptoCmd(), newBenchRelayCmd(), newBenchDirectoryCmd(), newBenchGroupCmd(), newBenchFilesCmd(), newBenchReceiveCmd())
	return c
}

func newBenchCryptoCmd() *cobra.Command {
	var (
		asJSON   bool
		duration time.Duration
		streamMB int64
	)
	c := &cobra.Command{
		Use:   "crypto",
		Short: "Measure the protocol core: ratchet, session setup, envelopes, file streams",
		Long: `Measure the protocol core on this machine and print the figures.

With --json, print one JSON object with ratchet_encrypt_ns, ratchet_decrypt_ns,
ratchet_pingpong_ns, session_setup_ns, sealed_envelope_ns, multi_envelope_1000_ns,
stream_encrypt_mbps, stream_decrypt_mbps (MB = 10^6 bytes) and cores.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if streamMB < 1 {
				return usageError{fmt.Errorf("--stream-mib must be at least 1")}
			}
			opts := bench.CryptoOptions{Duration: duration, StreamBytes: streamMB << 20}
			if !asJSON {
				opts.Progress = func(name string) { fmt.Fprintf(c.ErrOrStderr(), "measuring %s…\n", name) }
			}
			r, err := bench.Crypto(opts)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(c.OutOrStdout())
				return enc.Encode(r)
			}
			printCrypto(c.OutOrStdout(), r)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	c.Flags().DurationVar(&duration, "time", time.Second, "how long each per-operation measurement runs")
	c.Flags().Int64Var(&streamMB, "stream-mib", 1024, "MiB pushed through the file stream cipher")
	return c
}

func printCrypto(w io.Writer, r *bench.CryptoResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "measurement\tresult\ttarget\t\n")
	row := func(name string, v float64, unit, target string) {
		fmt.Fprintf(tw, "%s\t%.1f %s\t%s\t\n", name, v, unit, target)
	}
	row("ratchet encrypt (100 B)", r.RatchetEncryptNs/1e3, "µs", "")
	row("ratchet decrypt (100 B)", r.RatchetDecryptNs/1e3, "µs", "")
	row("ratchet encrypt+decrypt", (r.RatchetEncryptNs+r.RatchetDecryptNs)/1e3, "µs", "≤ 10 µs")
	row("ratchet ping-pong", r.RatchetPingPongNs/1e3, "µs", "")
	row("session setup, both sides", r.SessionSetupNs/1e3, "µs", "≤ 1000 µs")
	row("sealed envelope seal+open", r.SealedEnvelopeNs/1e3, "µs", "")
	row("multi envelope, 1000 devices", r.MultiEnvelope1000Ns/1e6, "ms", "")
	row("1:1 message end to end, client path", r.MessageE2ENs/1e3, "µs", "≤ 25 µs")
	row("1:1 message on the wire", float64(r.MessageWireBytes), "bytes", "≤ 400 bytes")
	row("  mean over 1,000 messages", r.MessageWireBytesAvg1000, "bytes", "")
	row("file stream encrypt", r.StreamEncryptMBps, "MB/s", "")
	row("file stream decrypt", r.StreamDecryptMBps, "MB/s", "≥ 3000 MB/s")
	tw.Flush()
	fmt.Fprintf(w, "%d cores, %s, stream of %d MiB\n", r.Cores, r.GoVersion, r.StreamBytes>>20)
}

func newBenchRelayCmd() *cobra.Command {
	var (
		asJSON bool
		o      bench.RelayOptions
	)
	c := &cobra.Command{
		Use:   "relay",
		Short: "Measure durable end-to-end delivery through a server over MQTT",
		Long: `Measure durable end-to-end delivery: sender/receiver pairs exchange envelopes
through a hush server over MQTT 5 (QoS 1; the relay acknowledges a publish only after the
envelope is durably stored; receivers acknowledge what they got). By default the server
runs in process with a temporary SQLite database; --server and --mqtt name a running one.

With --json, print one JSON object with messages_per_sec, p50_ms, p99_ms, lost,
duplicated and clients.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if !asJSON {
				o.Progress = func(s string) { fmt.Fprintln(c.ErrOrStderr(), s+"…") }
			}
			r, err := bench.Relay(c.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(c.OutOrStdout()).Encode(r)
			}
			fmt.Fprintf(c.OutOrStdout(), "%.0f messages/s durable end to end over %d clients (%s server)\n"+
				"latency p50 %.1f ms, p99 %.1f ms; sent %d, received %d, lost %d, duplicated %d; %d-byte envelopes\n",
				r.MessagesPerSec, r.Clients, r.Server, r.P50ms, r.P99ms, r.Sent, r.Received, r.Lost, r.Duplicated, r.EnvelopeBytes)
			return nil
		},
	}
	f := c.Flags()
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.StringVar(&o.ServerURL, "server", "", "HTTP URL of a running server (default: start one in process)")
	f.StringVar(&o.MQTTURL, "mqtt", "", "MQTT URL of that server (mqtt://host:port)")
	f.IntVar(&o.Clients, "clients", 100, "MQTT connections (half senders, half receivers)")
	f.DurationVar(&o.Duration, "time", 10*time.Second, "how long to send")
	f.IntVar(&o.Size, "size", 1393, "envelope size in bytes")
	f.IntVar(&o.InFlight, "in-flight", 1, "QoS 1 publishes each sender keeps outstanding")
	return c
}

func newBenchDirectoryCmd() *cobra.Command {
	var (
		asJSON bool
		o      bench.DirectoryOptions
	)
	c := &cobra.Command{
		Use:   "directory",
		Short: "Measure signed directory lookups against an in-process server",
		Long: `Measure signed directory lookups (GET /v1/users/{name}, each answer signed by the
server key) against an in-process server with a temporary SQLite database holding --users
accounts. With --json, print one JSON object with lookups_per_sec, p50_ms, p99_ms, users.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if !asJSON {
				o.Progress = func(s string) { fmt.Fprintln(c.ErrOrStderr(), s+"…") }
			}
			r, err := bench.Directory(c.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(c.OutOrStdout()).Encode(r)
			}
			fmt.Fprintf(c.OutOrStdout(), "%.0f signed lookups/s with %d users and %d clients; p50 %.2f ms, p99 %.2f ms (%d answers verified)\n",
				r.LookupsPerSec, r.Users, r.Concurrency, r.P50ms, r.P99ms, r.Verified)
			return nil
		},
	}
	f := c.Flags()
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.IntVar(&o.Users, "users", 100_000, "registered users")
	f.IntVar(&o.Concurrency, "concurrency", 32, "parallel HTTP clients")
	f.DurationVar(&o.Duration, "time", 10*time.Second, "how long to look up")
	return c
}

func newBenchGroupCmd() *cobra.Command {
	var (
		asJSON bool
		o      bench.GroupOptions
	)
	c := &cobra.Command{
		Use:   "group",
		Short: "Measure one group message to many member devices",
		Long: `Measure one 100-byte group message to --members devices: the sender's CPU time
(encrypt once under its sender key, sign once, build the fan-out body), the bytes it
uploads, and the rate at which an in-process server stores and delivers the copies.
With --json, print one JSON object with send_ns, upload_bytes, deliveries_per_sec.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if !asJSON {
				o.Progress = func(s string) { fmt.Fprintln(c.ErrOrStderr(), s+"…") }
			}
			r, err := bench.Group(c.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(c.OutOrStdout()).Encode(r)
			}
			fmt.Fprintf(c.OutOrStdout(), "group of %d devices: send %.1f µs (1:1 ratchet encrypt %.1f µs, %.1fx), upload %d bytes, %.0f deliveries/s\n",
				r.Members, r.SendNs/1e3, r.RatchetSendNs/1e3, r.SendNs/r.RatchetSendNs, r.UploadBytes, r.DeliveriesPerSec)
			return nil
		},
	}
	f := c.Flags()
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.IntVar(&o.Members, "members", 1000, "member devices")
	f.DurationVar(&o.Duration, "time", 3*time.Second, "how long to measure")
	return c
}

func newBenchReceiveCmd() *cobra.Command {
	var (
		asJSON bool
		o      bench.ReceiveOptions
	)
	c := &cobra.Command{
		Use:   "receive",
		Short: "Measure how fast a device drains a backlog of messages",
		Long: `Measure how fast one device takes in a backlog: --senders users queue --messages
1:1 messages to it on an in-process server (temporary SQLite database), then the device,
with an encrypted SQLite profile, syncs until nothing is pending (fetch, open, decrypt,
store durably, acknowledge). Only the drain is timed, and every message must be in the
device's history exactly once.

With --json, print one JSON object with messages_per_sec, seconds, messages, lost,
duplicated and peak_rss_bytes: the peak resident memory of the whole process during the
drain, which includes the in-process server (rss_scope says what was measured).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if !asJSON {
				o.Progress = func(s string) { fmt.Fprintln(c.ErrOrStderr(), s+"…") }
			}
			r, err := bench.Receive(c.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(c.OutOrStdout()).Encode(r)
			}
			fmt.Fprintf(c.OutOrStdout(), "%.0f messages/s received and stored durably (%d messages from %d senders in %.1f s, %d syncs)\n"+
				"lost %d, duplicated %d; peak RSS %.1f MiB (%s)\n",
				r.MessagesPerSec, r.Messages, r.Senders, r.Seconds, r.Syncs, r.Lost, r.Duplicated, float64(r.PeakRSSBytes)/(1<<20), r.RSSScope)
			return nil
		},
	}
	f := c.Flags()
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.IntVar(&o.Messages, "messages", 50_000, "messages queued for the receiving device")
	f.IntVar(&o.Senders, "senders", 4, "users sending them")
	return c
}
