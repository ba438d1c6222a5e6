package relay

import (
	"context"
	"log/slog"
)

// brokerLog adapts the relay's logger for the embedded broker. The broker
// logs whole packets under the keys "packet" and "pk" (a CONNECT carries
// the bearer token, a PUBLISH the envelope): those attributes are dropped,
// so no token or message body reaches a log line. It also demotes the
// broker's per-publish error line, because every refusal the relay makes
// goes through it and is already counted in hush_relay_rejects_total.
type brokerLog struct {
	h slog.Handler
}

func newBrokerLogger(l *slog.Logger) *slog.Logger {
	return slog.New(brokerLog{h: l.Handler()}).With("component", "mqtt")
}

var secretKeys = map[string]bool{"packet": true, "pk": true, "payload": true, "password": true}

// demoted lists broker messages logged at debug level instead.
var demoted = map[string]bool{
	"publish packet error":    true,
	"publish packet rejected": true,
	"error processing packet": true,
	"":                        true, // listeners log a refused connection's error with no message
}

func (b brokerLog) Enabled(ctx context.Context, l slog.Level) bool { return b.h.Enabled(ctx, l) }

func (b brokerLog) Handle(ctx context.Context, r slog.Record) error {
	level := r.Level
	if demoted[r.Message] && level > slog.LevelDebug {
		level = slog.LevelDebug
		if !b.h.Enabled(ctx, level) {
			return nil
		}
	}
	out := slog.NewRecord(r.Time, level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if !secretKeys[a.Key] {
			out.AddAttrs(a)
		}
		return true
	})
	return b.h.Handle(ctx, out)
}

func (b brokerLog) WithAttrs(as []slog.Attr) slog.Handler {
	kept := make([]slog.Attr, 0, len(as))
	for _, a := range as {
		if !secretKeys[a.Key] {
			kept = append(kept, a)
		}
	}
	return brokerLog{h: b.h.WithAttrs(kept)}
}

func (b brokerLog) WithGroup(name string) slog.Handler { return brokerLog{h: b.h.WithGroup(name)} }
