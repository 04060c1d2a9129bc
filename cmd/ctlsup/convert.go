package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ctlsup/ctlsup/supervisor/config"
	"github.com/ctlsup/ctlsup/supervisor/config/ini"
)

// exitLeftOut is convert's exit status when it wrote the TOML but could
// not carry every setting (each is listed on stderr).
const exitLeftOut = 3

// doConvert writes ctlsup TOML from supervisord INI:
// `ctlsup convert [-o DIR] supervisord.conf [conf.d/*.conf ...]`.
func doConvert(m *Main, arg string) error {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	out := fs.String("o", "", "write DIR/ctlsupd.toml and DIR/conf.d/supervisord.toml (default: print them)")
	if err := fs.Parse(strings.Fields(arg)); err != nil || fs.NArg() == 0 {
		fmt.Fprintln(m.Stderr, "usage: ctlsup convert [-o DIR] supervisord.conf [conf.d/*.conf ...]")
		m.exit = exitInvalidArgs
		return nil
	}
	res, err := ini.Convert(fs.Args())
	if err != nil {
		fmt.Fprintln(m.Stderr, "ctlsup convert:", err)
		m.exit = exitGeneric
		return nil
	}
	if *out == "" {
		fmt.Fprintf(m.Stdout, "# ---- ctlsupd.toml\n%s\n# ---- conf.d/supervisord.toml\n%s", res.Daemon, res.Programs)
	} else {
		daemon := filepath.Join(*out, "ctlsupd.toml")
		progs := filepath.Join(*out, "conf.d", "supervisord.toml")
		if err := os.MkdirAll(filepath.Dir(progs), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(daemon, []byte(res.Daemon), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(progs, []byte(res.Programs), 0o644); err != nil {
			return err
		}
		if _, err := config.Load(daemon); err != nil {
			fmt.Fprintln(m.Stderr, "ctlsup convert: the converted configuration does not load:", err)
			m.exit = exitGeneric
			return nil
		}
		fmt.Fprintf(m.Stdout, "wrote %s and %s\n", daemon, progs)
	}
	for _, o := range res.Omitted {
		fmt.Fprintln(m.Stderr, "not carried over:", o)
	}
	if len(res.Omitted) > 0 {
		m.exit = exitLeftOut
	}
	return nil
}
