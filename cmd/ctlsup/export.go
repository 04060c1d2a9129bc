package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ctlsup/ctlsup/procfile"
)

// doExport writes the conf.d TOML a server would use for a Procfile:
// `ctlsup export toml [-f Procfile] [-m formation] [-p port] [--instance
// NAME] [--log-dir DIR]`. ctlsupd loads it as is; process names match
// ctlsup run's.
func doExport(m *Main, arg string) error {
	args := strings.Fields(arg)
	if len(args) == 0 || args[0] != "toml" {
		m.out("Error: export supports one format: ctlsup export toml [-f Procfile] [-m formation] [-p port] [--instance NAME] [--log-dir DIR]")
		m.exit = exitInvalidArgs
		return nil
	}
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	var o procfileOptions
	o.register(fs)
	instance := fs.String("instance", "local", "instance (group) `name`")
	logDir := fs.String("log-dir", "", "log `directory` of the instance (default: the daemon's log_dir/<instance>)")
	if err := fs.Parse(args[1:]); err != nil {
		m.exit = exitInvalidArgs
		return nil
	}
	procs, vars, err := o.load()
	if err != nil {
		fmt.Fprintln(m.Stderr, "ctlsup export:", err)
		m.exit = exitGeneric
		return nil
	}
	writeTOML(m.Stdout, o.procfile, *instance, *logDir, procs, vars)
	return nil
}

func writeTOML(w io.Writer, source, instance, logDir string, procs []local, vars []procfile.Var) {
	fmt.Fprintf(w, "# Written by ctlsup export toml from %s.\n\n[instance.%s]\n", source, quoteKey(instance))
	if logDir != "" {
		fmt.Fprintf(w, "log_dir = %s\n", strconv.Quote(logDir))
	}
	if len(vars) > 0 {
		fmt.Fprintln(w, "environment = {", envList(vars), "}")
	}
	// One program per process: each has its own PORT, as foreman gives it.
	for _, p := range procs {
		fmt.Fprintf(w, "\n[program.%s]\ninstances = [%s]\ncommand = [\"/bin/sh\", \"-c\", %s]\nenvironment = { PORT = \"%d\" }\nautorestart = true\nstopwaitsecs = 5\n",
			quoteKey(p.name), strconv.Quote(instance), strconv.Quote(literal(p.command)), p.port)
	}
}

func envList(vars []procfile.Var) string {
	parts := make([]string, len(vars))
	for i, v := range vars {
		parts[i] = quoteKey(v.Key) + " = " + strconv.Quote(literal(v.Value))
	}
	return strings.Join(parts, ", ")
}

// quoteKey writes a TOML key bare when it can be.
func quoteKey(k string) string {
	for _, c := range k {
		if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return strconv.Quote(k)
		}
	}
	return k
}

// literal protects $ from ctlsup's ${NAME} expansion: the shell expands
// $PORT when the program runs, as under foreman.
func literal(s string) string { return strings.ReplaceAll(s, "$", "$$") }
