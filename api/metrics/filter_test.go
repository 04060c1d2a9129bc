package metrics_test

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// filterCollector passes on only the restarts_total series whose labels
// contain want, so testutil.ToFloat64 can read one value.
type filterCollector struct {
	c    prometheus.Collector
	want string
}

func (f filterCollector) Describe(ch chan<- *prometheus.Desc) { f.c.Describe(ch) }

func (f filterCollector) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric, 1000)
	go func() { f.c.Collect(all); close(all) }()
	for m := range all {
		if !strings.Contains(m.Desc().String(), "ctlsup_process_restarts_total") {
			continue
		}
		var pb dto.Metric
		m.Write(&pb)
		for _, l := range pb.Label {
			if l.GetName()+`="`+l.GetValue()+`"` == f.want {
				ch <- m
			}
		}
	}
}
