package config

import "fmt"

// supervisordKeys maps supervisord keys ctlsup spells differently to advice.
var supervisordKeys = map[string]string{
	"stdout_logfile_maxbytes": "logfile_maxbytes", "stderr_logfile_maxbytes": "logfile_maxbytes",
	"stdout_logfile_backups": "logfile_backups", "stderr_logfile_backups": "logfile_backups",
	"process_name": "numprocs (processes are named NAME_00, NAME_01, ...)",
	"startsec":     "startsecs", "stopwaitsec": "stopwaitsecs",
}

// unknownKey is the message for a key that is not allowed here, with the
// closest allowed key as a suggestion.
func unknownKey(key string, allowed []string) string {
	if hint, ok := supervisordKeys[key]; ok {
		return fmt.Sprintf("unknown key %q (did you mean %s?)", key, hint)
	}
	best, bestDist := "", 4
	for _, a := range allowed {
		if d := editDistance(key, a); d < bestDist {
			best, bestDist = a, d
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown key %q (did you mean %q?)", key, best)
	}
	return fmt.Sprintf("unknown key %q", key)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
