package api

import (
	"github.com/ctlsup/ctlsup/api/xmlrpc"
	"github.com/ctlsup/ctlsup/supervisor"
)

// usage renders sup's Usage for ctlsup.getAllProcessUsage, in the order of
// getAllProcessInfo. Byte counts are doubles: XML-RPC's int has 32 bits.
func (s *Server) usage(sup *supervisor.Supervisor) []any {
	u := sup.Usage()
	holders := sup.LeaseHolders()
	out := []any{}
	for _, p := range sup.Processes() {
		pu := u[p.FullName()]
		st := xmlrpc.Struct{
			{Name: "name", Value: p.Name},
			{Name: "group", Value: p.Group},
			{Name: "cpu_seconds", Value: pu.CPUSeconds},
			{Name: "memory_bytes", Value: float64(pu.MemoryBytes)},
			{Name: "memory_peak_bytes", Value: float64(pu.MemoryPeakBytes)},
			{Name: "rss_bytes", Value: float64(pu.RSSBytes)},
			{Name: "tasks", Value: pu.Tasks},
			{Name: "oom_kills", Value: int(pu.OOMKills)},
			{Name: "cgroup", Value: pu.Cgroup},
		}
		if p.Spec.ClusterSingleton {
			// Who holds its cluster lease ("" while unknown).
			st = append(st, xmlrpc.Member{Name: "cluster_holder", Value: holders[p.FullName()]})
		}
		out = append(out, st)
	}
	return out
}
