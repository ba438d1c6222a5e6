package relay

import "github.com/prometheus/client_golang/prometheus"

// metrics are one relay's Prometheus metrics (no globals: each Relay has
// its own, registered by the server on its own registry).
type metrics struct {
	connections    prometheus.Gauge
	stored         prometheus.Counter
	storedBytes    prometheus.Counter
	delivered      prometheus.Counter
	deliveredBytes prometheus.Counter
	acked          prometheus.Counter
	expired        prometheus.Counter
	backlogPasses  prometheus.Counter
	commitSeconds  prometheus.Histogram
	batchSize      prometheus.Histogram
	rejects        *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hush_relay_mqtt_connections",
			Help: "Authenticated MQTT connections.",
		}),
		stored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hush_relay_envelopes_stored_total",
			Help: "Envelopes durably stored.",
		}),
		storedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hush_relay_envelope_bytes_stored_total",
			Help: "Bytes of envelopes durably stored.",
		}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hush_relay_envelopes_delivered_total",
			Help: "Delivery frames written to devices (live and backlog; redeliveries count again).",
		}),
		deliveredBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hush_relay_envelope_bytes_delivered_total",
			Help: "Bytes of MQTT packets carrying delivery frames written to devices.",
		}),
		acked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hush_relay_envelopes_acked_total",
			Help: "Envelopes deleted because their device acknowledged them.",
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hush_relay_envelopes_expired_total",
			Help: "Envelopes deleted unacknowledged at the end of their TTL.",
		}),
		backlogPasses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hush_relay_backlog_passes_total",
			Help: "Backlog pushes started: at subscribe, or to catch up a device whose live queue overflowed.",
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hush_relay_store_commit_seconds",
			Help:    "Latency of one group commit of envelopes to the store.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hush_relay_commit_batch_envelopes",
			Help:    "Envelopes per group commit.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hush_relay_rejects_total",
			Help: "Refused sends, acks and connections, by reason code.",
		}, []string{"reason"}),
	}
	for _, rj := range rejectCodes {
		m.rejects.WithLabelValues(rj.code)
	}
	m.rejects.WithLabelValues(reasonBadCredentials)
	m.rejects.WithLabelValues(reasonTooManyConns)
	m.rejects.WithLabelValues(reasonUnavailable)
	return m
}

// reasonBadCredentials labels refused MQTT connections.
const reasonBadCredentials = "bad_credentials"

// reasonTooManyConns labels MQTT connections refused at the per-device
// cap.
const reasonTooManyConns = "too_many_connections"

// reasonUnavailable labels MQTT connections refused because the store
// could not check their token.
const reasonUnavailable = "store_unavailable"

func (m *metrics) reject(rj rejection) { m.rejects.WithLabelValues(rj.code).Inc() }

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		m.connections, m.stored, m.storedBytes, m.delivered, m.deliveredBytes,
		m.acked, m.expired, m.backlogPasses, m.commitSeconds, m.batchSize, m.rejects,
	}
}
