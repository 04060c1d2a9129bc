package config_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ctlsup/ctlsup/supervisor/config"
)

// BenchmarkLoad loads n programs from one conf.d file. Its µs/program
// should not grow with n: a load that compared each definition with the
// ones before it took 1.7 s for 10,000 programs where 1000 took 0.1 s.
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var text strings.Builder
			for i := range n {
				fmt.Fprintf(&text, "[program.p%05d]\ncommand = \"/bin/sleep 100000\"\nstartsecs = 0\nautorestart = true\n"+
					"stopwaitsecs = 2\nredirect_stderr = true\nlogfile_maxbytes = \"50MB\"\nlogfile_backups = 10\n", i)
			}
			path := writeConfig(b, daemonFile, map[string]string{"app.toml": text.String()})
			b.ResetTimer()
			for b.Loop() {
				if _, err := config.Load(path); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/program")
		})
	}
}
