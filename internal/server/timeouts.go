package server

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/hush-chat/hush/internal/server/relay"
)

func orDefault[T time.Duration | int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// transferLimits is the minimum-rate rule of the HTTP API.
func (s *Server) transferLimits() transferLimits {
	return transferLimits{base: orDefault(s.cfg.TransferTimeout.Duration, DefaultTransferTimeout),
		rate: orDefault(s.cfg.MinTransferRate, DefaultMinTransferRate)}
}

// mqttTimeouts applies the same settings to MQTT connections, over TCP
// and WebSocket.
func (s *Server) mqttTimeouts() relay.ConnTimeouts {
	t := s.transferLimits()
	return relay.ConnTimeouts{Connect: orDefault(s.cfg.HeaderTimeout.Duration, DefaultHeaderTimeout),
		MaxIdle: orDefault(s.cfg.MQTTMaxIdle.Duration, DefaultMQTTMaxIdle), Write: t.base, MinRate: t.rate}
}

// newHTTPServer sets the timeouts that hold for every request: headers
// within header_timeout, an idle keep-alive connection closed after
// idle_timeout. ReadTimeout and WriteTimeout give each request the base
// allowance from its first byte; transferLimits.guard then extends the
// deadlines as the body and the answer move at the minimum rate.
func (s *Server) newHTTPServer() *http.Server {
	header := orDefault(s.cfg.HeaderTimeout.Duration, DefaultHeaderTimeout)
	base := header + s.transferLimits().base
	return &http.Server{Handler: s.routes(),
		ReadHeaderTimeout: header, ReadTimeout: base, WriteTimeout: base,
		IdleTimeout: orDefault(s.cfg.IdleTimeout.Duration, DefaultIdleTimeout),
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
}
