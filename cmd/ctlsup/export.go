package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/ctlsup/ctlsup/procfile"
	"github.com/ctlsup/ctlsup/supervisor/config/ini"
)

// doExport writes the conf.d TOML a server would use for a Procfile:
// `ctlsup export toml [-f Procfile] [-e .env] [-m formation] [-p port]
// [--instance NAME] [--log-dir DIR] [TYPE ...]`. ctlsupd loads it as is;
// process names, ports, directory and environment match ctlsup run's.
func doExport(m *Main, arg string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	var o procfileOptions
	o.register(fs)
	instance := fs.String("instance", "local", "instance (group) `name`")
	logDir := fs.String("log-dir", "", "log `directory` of the instance (default: the daemon's log_dir/<instance>)")
	words, err := parseInterspersed(fs, m.words(arg))
	if err != nil {
		m.exit = exitInvalidArgs
		return nil
	}
	if len(words) == 0 || words[0] != "toml" {
		m.out("Error: export supports one format: ctlsup export toml [-f Procfile] [-e .env] [-m formation] [-p port] [--instance NAME] [--log-dir DIR] [TYPE ...]")
		m.exit = exitInvalidArgs
		return nil
	}
	run, err := o.load(words[1:], m.Getenv)
	if err == nil {
		err = run.checkUTF8()
	}
	if err != nil {
		fmt.Fprintln(m.Stderr, "ctlsup export:", err)
		m.exit = exitGeneric
		return nil
	}
	writeTOML(m.Stdout, o.procfile, *instance, *logDir, run)
	return nil
}

// checkUTF8 refuses what TOML cannot hold: its strings are UTF-8, and a
// value in another encoding would reach the program re-encoded.
func (r *procfileRun) checkUTF8() error {
	for _, v := range r.vars {
		if !utf8.ValidString(v.Value) {
			return fmt.Errorf("the value of %s is not UTF-8, which a TOML file cannot hold: run the program with ctlsup run, or set it in the program's own environment", v.Key)
		}
	}
	for _, p := range r.procs {
		if !utf8.ValidString(p.command) {
			return fmt.Errorf("the command of %s is not UTF-8, which a TOML file cannot hold", p.name)
		}
	}
	if !utf8.ValidString(r.dir) {
		return fmt.Errorf("the Procfile's directory %q is not UTF-8, which a TOML file cannot hold", r.dir)
	}
	return nil
}

func writeTOML(w io.Writer, source, instance, logDir string, run *procfileRun) {
	fmt.Fprintf(w, "# Written by ctlsup export toml from %s.\n\n[instance.%s]\n", source, ini.TOMLKey(instance))
	if logDir != "" {
		fmt.Fprintf(w, "log_dir = %s\n", ini.TOMLString(logDir))
	}
	if len(run.vars) > 0 {
		fmt.Fprintln(w, "environment = {", envList(run.vars), "}")
	}
	// One program per process: each has its own PORT, as foreman gives
	// it. It runs where the Procfile is, as under ctlsup run: exec'd by
	// the shell where it is one simple command, else with its stop
	// signal sent to the shell's whole group.
	copies := map[string]int{} // of each process type
	for _, p := range run.procs {
		copies[p.typ]++
	}
	for _, p := range run.procs {
		argv, grouped := procfile.Shell(p.command)
		fmt.Fprintf(w, "\n[program.%s]\ninstances = [%s]\ncommand = [\"/bin/sh\", \"-c\", %s]\ndirectory = %s\nenvironment = { PORT = \"%d\", PS = %s }\nautorestart = true\nstopasgroup = %v\nstopwaitsecs = 5\n",
			ini.TOMLKey(p.name), ini.TOMLString(instance), ini.TOMLString(literal(argv[2])), ini.TOMLString(literal(run.dir)), p.port, ini.TOMLString(p.ps), grouped)
		// What ctlsupd guards that foreman leaves to care, as convert
		// marks it: one beat (of a formation's copies, each would hold
		// a lock of its own).
		if copies[p.typ] == 1 && ini.RunsCeleryBeat(p.command) {
			fmt.Fprintln(w, "singleton = true # celery beat: a second one would send every periodic task twice")
		}
	}
}

// envList is the env files' variables, a later one of a name winning.
func envList(vars []procfile.Var) string {
	last := map[string]string{}
	var keys []string
	for _, v := range vars {
		if _, ok := last[v.Key]; !ok {
			keys = append(keys, v.Key)
		}
		last[v.Key] = v.Value
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = ini.TOMLKey(k) + " = " + ini.TOMLString(literal(last[k]))
	}
	return strings.Join(parts, ", ")
}

// literal protects $ from ctlsup's ${NAME} expansion: the shell expands
// $PORT when the program runs, as under foreman.
func literal(s string) string { return strings.ReplaceAll(s, "$", "$$") }
