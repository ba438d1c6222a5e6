package blobs

import "github.com/prometheus/client_golang/prometheus"

// metrics are one Service's counters; each Service has its own so that two
// servers in one process (tests) never share or collide.
type metrics struct {
	created     prometheus.Counter
	chunksIn    prometheus.Counter
	bytesIn     prometheus.Counter
	chunksOut   prometheus.Counter
	bytesOut    prometheus.Counter
	fetched     prometheus.Counter
	doneIgnored prometheus.Counter
	deleted     *prometheus.CounterVec // reason: fetched | expired
	refused     *prometheus.CounterVec // code: the error code answered
	storeErrors prometheus.Counter
}

func newMetrics() *metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "hush", Subsystem: "blobs", Name: name, Help: help})
	}
	return &metrics{
		created:   counter("created_total", "Blobs created."),
		chunksIn:  counter("chunks_uploaded_total", "Chunk uploads accepted (including identical resends)."),
		bytesIn:   counter("uploaded_bytes_total", "Bytes of accepted chunk uploads."),
		chunksOut: counter("chunks_downloaded_total", "Chunks served."),
		bytesOut:  counter("downloaded_bytes_total", "Bytes of chunks served."),
		fetched:   counter("recipients_done_total", "Recipient completions counted."),
		doneIgnored: counter("recipients_done_ignored_total",
			"Completion reports not counted: repeats, and devices beyond their account's share."),
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "hush", Subsystem: "blobs",
			Name: "deleted_total", Help: "Blobs deleted, by reason (fetched, expired)."}, []string{"reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "hush", Subsystem: "blobs",
			Name: "refused_total", Help: "Requests answered with an error, by error code."}, []string{"code"}),
		storeErrors: counter("store_errors_total", "Unexpected storage errors (answered 500)."),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.created, m.chunksIn, m.bytesIn, m.chunksOut, m.bytesOut,
		m.fetched, m.doneIgnored, m.deleted, m.refused, m.storeErrors}
}
