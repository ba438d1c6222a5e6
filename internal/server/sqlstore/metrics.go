package sqlstore

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Collectors returns Prometheus collectors for the connection pools
// (go_sql_* metrics: open and in-use connections, waits for a
// connection). For SQLite, waits on the "hush_writer" pool show writers
// queueing for the single write connection.
func (db *DB) Collectors() []prometheus.Collector {
	if db.r == db.w {
		return []prometheus.Collector{collectors.NewDBStatsCollector(db.w, "hush")}
	}
	return []prometheus.Collector{
		collectors.NewDBStatsCollector(db.w, "hush_writer"),
		collectors.NewDBStatsCollector(db.r, "hush_reader"),
	}
}
