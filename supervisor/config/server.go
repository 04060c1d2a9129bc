package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ctlsup/ctlsup/supervisor/config/ini"
)

// Server is what a client needs to reach a daemon: its URL and
// credentials.
type Server struct {
	URL                string
	Username, Password string
	Peers              []string // [cluster] peers: the other nodes' URLs, for status
	// Prompt is a supervisord INI file's [supervisorctl] prompt, if set.
	Prompt string
	// Warning tells the unknown keys of the daemon file, read past: the
	// daemon that runs loaded the file before they were written, and an
	// operator must still reach it (a daemon started with them would
	// refuse them).
	Warning error
}

// LocateServer reads only what locates the control socket: the daemon
// file's own settings (no conf.d file is read, and an unknown key in it is
// a Warning, so a mistake in one does not stop every command), or, for a supervisord INI file as Ansible and
// Salt pass it, [supervisorctl] serverurl, else [unix_http_server] file,
// else [inet_http_server] port, with their credentials.
func LocateServer(path string) (Server, error) {
	path, err := filepath.Abs(path)
	if err != nil {
		return Server{}, err
	}
	if looksLikeINI(path) {
		return iniServer(path)
	}
	f, err := parseFile(path)
	if err != nil {
		return Server{}, fmt.Errorf("cannot read configuration: %w", err)
	}
	var unknown []error
	f.unknownKeys = &unknown
	var d Daemon
	if err := (&loader{env: os.LookupEnv, seen: map[string]bool{}, locating: true}).daemon(f, &d); err != nil {
		return Server{}, err
	}
	user, pass := d.Control.SocketAuth()
	return Server{URL: d.ServerURL(), Username: user, Password: pass, Peers: d.Cluster.Peers, Warning: errors.Join(unknown...)}, nil
}

// looksLikeINI tells a supervisord file by its sections: TOML has no
// [supervisord] or [supervisorctl] table, and no colon in a table name.
func looksLikeINI(path string) bool {
	b, err := readConfigFile(path)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "[") || strings.HasPrefix(line, "[[") {
			continue
		}
		name := strings.Trim(line, "[] ")
		switch {
		case name == "supervisord", name == "supervisorctl", name == "unix_http_server", name == "inet_http_server",
			strings.HasPrefix(name, "program:"), strings.HasPrefix(name, "include"):
			return true
		}
	}
	return false
}

func iniServer(path string) (Server, error) {
	sections, err := ini.ParseFile(path)
	if err != nil {
		return Server{}, err
	}
	// supervisorctl expands %(here)s (the file's directory) and
	// %(ENV_X)s in what it reads; a name it cannot expand is an error.
	var bad error
	get := func(section, key string) string {
		for i := range sections {
			if sections[i].Name == section {
				if k, ok := sections[i].Get(key); ok {
					v, err := ini.ExpandNow(strings.TrimSpace(k.Value), filepath.Dir(sections[i].File))
					if err != nil && bad == nil {
						bad = fmt.Errorf("%s:%d: [%s] %s: %v", sections[i].File, k.Line, section, key, err)
					}
					return v
				}
			}
		}
		return ""
	}
	s := Server{Prompt: get("supervisorctl", "prompt")}
	switch {
	case get("supervisorctl", "serverurl") != "":
		s.URL = get("supervisorctl", "serverurl")
		s.Username, s.Password = get("supervisorctl", "username"), get("supervisorctl", "password")
	case get("unix_http_server", "file") != "":
		s.URL = "unix://" + get("unix_http_server", "file")
		s.Username, s.Password = get("unix_http_server", "username"), get("unix_http_server", "password")
	case get("inet_http_server", "port") != "":
		port := get("inet_http_server", "port")
		// A bare port, ":port" and "*:port" are every interface to
		// supervisord: this host is reached on loopback.
		if !strings.Contains(port, ":") || strings.HasPrefix(port, ":") || strings.HasPrefix(port, "*:") {
			port = "127.0.0.1:" + port[strings.Index(port, ":")+1:]
		}
		s.URL = "http://" + port
		s.Username, s.Password = get("inet_http_server", "username"), get("inet_http_server", "password")
	case hasSection(sections, "supervisorctl"):
		// supervisorctl's own default, for a file that only gives its
		// credentials (Ansible's, with server_url beside it).
		s.URL = "http://localhost:9001"
	default:
		return Server{}, fmt.Errorf("%s: no [supervisorctl] serverurl, [unix_http_server] or [inet_http_server]", path)
	}
	if get("supervisorctl", "username") != "" {
		s.Username, s.Password = get("supervisorctl", "username"), get("supervisorctl", "password")
	}
	if strings.HasPrefix(s.URL, "unix://") {
		s.URL = "unix://" + filepath.Clean(strings.TrimPrefix(s.URL, "unix://"))
	}
	return s, bad
}

func hasSection(sections []ini.Section, name string) bool {
	for i := range sections {
		if sections[i].Name == name {
			return true
		}
	}
	return false
}
