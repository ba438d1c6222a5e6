package cli

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hush-chat/hush/internal/server"
)

func newServerCmd() *cobra.Command {
	var configFile string
	flagCfg := server.Config{}
	c := &cobra.Command{
		Use:   "server",
		Short: "Run the hush server: key directory and store-and-forward relay",
		Long: `Run the hush server. With no flags it starts on this machine alone: an embedded
SQLite database and an embedded MQTT broker, listening on loopback. It prints its HTTP URL,
its MQTT URL and its signing-key fingerprint, one per line.

Settings come from flags, then HUSH_SERVER_* environment variables (HUSH_SERVER_LISTEN,
HUSH_SERVER_DB, …), then the TOML file given with --config (unknown keys are an error);
deploy/hush.toml in the source names every setting.

Every instance of a deployment signs with one key: give them all --signing-key FILE (made
with hush server keygen FILE). The database records the key it was first used with, and an
instance with another key refuses to start. doc/OPERATIONS.md tells how to rotate it.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg := server.Defaults()
			if configFile != "" {
				if err := cfg.LoadFile(configFile); err != nil {
					return err
				}
			}
			if err := cfg.LoadEnv(os.Getenv); err != nil {
				return err
			}
			applyServerFlags(c, &cfg, &flagCfg)
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			log := server.NewLogger(c.ErrOrStderr(), cfg)
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return server.Run(ctx, cfg, c.OutOrStdout(), log)
		},
	}
	f := c.Flags()
	f.StringVar(&configFile, "config", "", "TOML configuration file")
	f.StringVar(&flagCfg.Listen, "listen", server.DefaultListen, "HTTP listen address (port 0 picks a free port)")
	f.StringVar(&flagCfg.MQTTListen, "mqtt-listen", server.DefaultMQTTListen, "MQTT listen address (port 0 picks a free port)")
	f.StringVar(&flagCfg.DataDir, "data", "", "data directory (server key, SQLite database); default under the XDG data dir")
	f.StringVar(&flagCfg.DB, "db", "", "database URL: empty for SQLite in the data directory, or postgres://…")
	f.StringVar(&flagCfg.BaseURL, "base-url", "", "public base URL used in e-mail links")
	f.StringVar(&flagCfg.MQTTPublicURL, "mqtt-public-url", "", "MQTT address clients should use, if not the HTTP host with the MQTT port")
	f.StringVar(&flagCfg.TLSCert, "tls-cert", "", "TLS certificate file for the HTTP listener")
	f.StringVar(&flagCfg.TLSKey, "tls-key", "", "TLS private key file for the HTTP listener")
	f.StringVar(&flagCfg.SMTPAddr, "smtp-addr", "", "SMTP server host:port; enables e-mail activation")
	f.StringVar(&flagCfg.SMTPFrom, "smtp-from", "", "sender address of activation e-mails")
	f.BoolVar(&flagCfg.AllowUsernameReuse, "allow-username-reuse", false, "let a deleted username be registered with another key")
	f.StringVar(&flagCfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&flagCfg.Registration, "registration", "open", "who may register: open, invite (a code from hush server invite) or closed")
	f.IntVar(&flagCfg.UserInvites, "user-invites", 0, "with --registration invite: invites each user may issue with hush invite")
	f.StringVar(&flagCfg.SigningKey, "signing-key", "", "signing key file shared by every instance (hush server keygen); default server.key in the data directory")
	f.StringVar(&flagCfg.LogFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&flagCfg.MetricsListen, "metrics-listen", "", "address of the Prometheus /metrics listener; default: no metrics")
	c.AddCommand(newServerInviteCmd(), newServerKeygenCmd(), newServerRotateKeyCmd(), newServerBackupCmd())
	return c
}

// applyServerFlags copies the flags the user set over cfg, so flags win
// over the environment and the file, and unset flags change nothing.
func applyServerFlags(c *cobra.Command, cfg, fl *server.Config) {
	set := func(name string, dst *string, v string) {
		if c.Flags().Changed(name) {
			*dst = v
		}
	}
	set("listen", &cfg.Listen, fl.Listen)
	set("mqtt-listen", &cfg.MQTTListen, fl.MQTTListen)
	set("data", &cfg.DataDir, fl.DataDir)
	set("db", &cfg.DB, fl.DB)
	set("base-url", &cfg.BaseURL, fl.BaseURL)
	set("mqtt-public-url", &cfg.MQTTPublicURL, fl.MQTTPublicURL)
	set("tls-cert", &cfg.TLSCert, fl.TLSCert)
	set("tls-key", &cfg.TLSKey, fl.TLSKey)
	set("smtp-addr", &cfg.SMTPAddr, fl.SMTPAddr)
	set("smtp-from", &cfg.SMTPFrom, fl.SMTPFrom)
	set("log-level", &cfg.LogLevel, fl.LogLevel)
	set("registration", &cfg.Registration, fl.Registration)
	set("signing-key", &cfg.SigningKey, fl.SigningKey)
	set("log-format", &cfg.LogFormat, fl.LogFormat)
	set("metrics-listen", &cfg.MetricsListen, fl.MetricsListen)
	if c.Flags().Changed("user-invites") {
		cfg.UserInvites = fl.UserInvites
	}
	if c.Flags().Changed("allow-username-reuse") {
		cfg.AllowUsernameReuse = fl.AllowUsernameReuse
	}
}
