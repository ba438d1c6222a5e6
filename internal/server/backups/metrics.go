package backups

import "github.com/prometheus/client_golang/prometheus"

// metrics are one Service's counters (each Service has its own, so two
// servers in one process never collide). A rising count of locked
// evaluations is someone guessing passphrases.
type metrics struct {
	evaluations *prometheus.CounterVec // result: answered | locked
	stored      prometheus.Counter
	unlocks     prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		evaluations: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "hush", Subsystem: "backup",
			Name: "evaluations_total", Help: "Backup passphrase tries (OPRF evaluations), by result (answered, locked)."}, []string{"result"}),
		stored: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "hush", Subsystem: "backup",
			Name: "stored_total", Help: "Backups stored (new or replaced)."}),
		unlocks: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "hush", Subsystem: "backup",
			Name: "unlocks_total", Help: "Backup locks lifted by their owners."}),
	}
}

// Collectors returns the service's metrics, for the server's registry.
func (s *Service) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.m.evaluations, s.m.stored, s.m.unlocks}
}
