package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ctlsup/ctlsup/supervisor/config"
	"github.com/ctlsup/ctlsup/supervisor/config/ini"
)

// exitLeftOut is convert's exit status when it wrote the TOML but could
// not carry every setting (each is listed on stderr).
const exitLeftOut = 3

// doConvert writes ctlsup TOML from supervisord INI:
// `ctlsup convert [-o DIR [-force]] supervisord.conf [conf.d/*.conf ...]`.
func doConvert(m *Main, arg string) error {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	out := fs.String("o", "", "write DIR/ctlsupd.toml and DIR/conf.d/supervisord.toml (default: print them)")
	force := fs.Bool("force", false, "with -o, replace files that differ from what convert wrote there")
	files, err := parseInterspersed(fs, m.words(arg))
	if err != nil || len(files) == 0 || *force && *out == "" {
		fmt.Fprintln(m.Stderr, "usage: ctlsup convert [-o DIR [-force]] supervisord.conf [conf.d/*.conf ...]")
		m.exit = exitInvalidArgs
		return nil
	}
	res, err := ini.Convert(files)
	if err != nil {
		fmt.Fprintln(m.Stderr, "ctlsup convert:", err)
		m.exit = exitGeneric
		return nil
	}
	if unset := unsetEnvRefs(res.Daemon + res.Programs); len(unset) > 0 && *out != "" {
		fmt.Fprintf(m.Stderr, "ctlsup convert: %%(ENV_X)s becomes ${X}, which ctlsupd reads from its own environment when it loads the file; not set here: %s (set them as the daemon's unit will, and convert again; %s left as it was)\n",
			strings.Join(unset, ", "), *out)
		m.exit = exitGeneric
		return nil
	}
	if *out == "" {
		fmt.Fprintf(m.Stdout, "# ---- ctlsupd.toml\n%s\n# ---- conf.d/supervisord.toml\n%s", res.Daemon, res.Programs)
		// Printed all the same, to be read; the exit status says whether
		// it would load. ${X} it cannot resolve here is left to the
		// daemon's environment, and said so.
		if unset := unsetEnvRefs(res.Daemon + res.Programs); len(unset) > 0 {
			fmt.Fprintf(m.Stderr, "ctlsup convert: not checked that it loads: %%(ENV_X)s became ${X}, which ctlsupd reads from its own environment, and these are not set here: %s\n", strings.Join(unset, ", "))
		} else if err := printedLoads(res.Daemon, res.Programs); err != nil {
			fmt.Fprintln(m.Stderr, "ctlsup convert:", err)
			m.exit = exitGeneric
			return nil
		}
	} else {
		if !*force {
			for _, f := range []struct{ path, text string }{
				{filepath.Join(*out, "ctlsupd.toml"), res.Daemon},
				{filepath.Join(*out, "conf.d", "supervisord.toml"), res.Programs},
			} {
				if edited, err := editedSinceConverted(f.path, f.text); err != nil || edited {
					if err == nil {
						err = fmt.Errorf("%s is not what convert wrote there (edited by hand, or not written by convert): replacing it would lose that. "+
							"Carry the change into the supervisord configuration and use -force, or edit the TOML from now on (%s left as it was)", f.path, *out)
					}
					fmt.Fprintln(m.Stderr, "ctlsup convert:", err)
					m.exit = exitGeneric
					return nil
				}
			}
		}
		daemon, progs, err := writeConverted(*out, stamp(res.Daemon), stamp(res.Programs))
		if errors.Is(err, errDoesNotLoad) {
			fmt.Fprintln(m.Stderr, "ctlsup convert:", err)
			m.exit = exitGeneric
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := config.Load(daemon); err != nil {
			fmt.Fprintln(m.Stderr, "ctlsup convert: wrote the converted configuration, but with the rest of", *out, "it does not load:", err)
			m.exit = exitGeneric
			return nil
		}
		fmt.Fprintf(m.Stdout, "wrote %s and %s\n", daemon, progs)
	}
	for _, o := range res.Omitted {
		fmt.Fprintln(m.Stderr, "not carried over:", o)
	}
	for _, o := range res.Notes {
		fmt.Fprintln(m.Stderr, "note:", o)
	}
	if len(res.Omitted) > 0 {
		m.exit = exitLeftOut
	}
	return nil
}

var errDoesNotLoad = errors.New("the converted configuration does not load")

// stampPrefix begins the last line of a file convert writes: the sum of
// what comes before it, by which a later conversion tells whether the
// file was edited since (and would lose the edits).
const stampPrefix = "# ctlsup convert: sha256 "

// stamp is text with its stamp line.
func stamp(text string) string {
	sum := sha256.Sum256([]byte(text))
	return text + stampPrefix + hex.EncodeToString(sum[:]) + "\n"
}

// editedSinceConverted reports whether the file at path holds what no
// stamp vouches for: edited since convert wrote it, or written by someone
// else. A missing file is not, nor one that holds what convert would
// write now (next, unstamped), stamped or not: an earlier convert's
// files carry no stamp.
func editedSinceConverted(path, next string) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	text := string(b)
	if text == next || text == stamp(next) {
		return false, nil
	}
	i := strings.LastIndex(text, stampPrefix)
	return i < 0 || (i > 0 && text[i-1] != '\n') || stamp(text[:i]) != text, nil
}

// unsetEnvRefs names the variables the converted files take from the
// environment (what %(ENV_X)s became) that are not set in this one. It
// reads ${NAME} as the loader does: $$ is a literal $.
func unsetEnvRefs(toml string) []string {
	builtin := map[string]bool{"instance": true, "program": true, "process_name": true, "process_num": true, "here": true}
	var unset []string
	for i := 0; i < len(toml); i++ {
		switch {
		case strings.HasPrefix(toml[i:], "$$"):
			i++
		case strings.HasPrefix(toml[i:], "${"):
			end := strings.IndexByte(toml[i:], '}')
			if end < 0 {
				return unset
			}
			name := toml[i+2 : i+end]
			if _, set := os.LookupEnv(name); !set && !builtin[name] && !slices.Contains(unset, name) {
				unset = append(unset, name)
			}
			i += end
		}
	}
	slices.Sort(unset)
	return unset
}

// mkdirAllTracked is os.MkdirAll that says which directories it made,
// outermost first, for a failure to take them away again.
func mkdirAllTracked(dir string) ([]string, error) {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || filepath.Dir(d) == d {
			break
		}
		missing = append(missing, d)
	}
	slices.Reverse(missing)
	return missing, os.MkdirAll(dir, 0o755)
}

// writeConverted writes DIR/ctlsupd.toml and DIR/conf.d/supervisord.toml,
// once the two load by themselves: they are loaded from a directory of
// their own in DIR first, so that a conversion that fails leaves what DIR
// held (a daemon's live configuration, perhaps) as it was. Each file is
// then renamed into place.
func writeConverted(out, daemonTOML, programsTOML string) (daemon, progs string, err error) {
	daemon = filepath.Join(out, "ctlsupd.toml")
	progs = filepath.Join(out, "conf.d", "supervisord.toml")
	confd := filepath.Dir(progs)
	// Directories this call makes go again if it fails: only those, and
	// only while empty.
	var made []string
	defer func() {
		if err != nil {
			for i := len(made) - 1; i >= 0; i-- {
				os.Remove(made[i])
			}
		}
	}()
	dirs, err := mkdirAllTracked(out)
	made = append(made, dirs...)
	if err != nil {
		return "", "", err
	}
	stage, err := stageConverted(out, daemonTOML, programsTOML)
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(stage)
	stagedDaemon := filepath.Join(stage, "ctlsupd.toml")
	stagedProgs := filepath.Join(stage, "conf.d", "supervisord.toml")
	if _, err := config.Load(stagedDaemon); err != nil {
		// Named as the file it would have been: the staged one is gone.
		text := strings.ReplaceAll(err.Error(), stage, out+" (converted)")
		return "", "", fmt.Errorf("%w (%s left as it was): %s", errDoesNotLoad, out, text)
	}
	dirs, err = mkdirAllTracked(confd)
	made = append(made, dirs...)
	if err != nil {
		return "", "", err
	}
	if err := os.Rename(stagedProgs, progs); err != nil {
		return "", "", err
	}
	if err := os.Rename(stagedDaemon, daemon); err != nil {
		return "", "", err
	}
	return daemon, progs, nil
}

// stageConverted writes the two files into a new directory in parent (the
// system's temporary directory if empty), laid out as in DIR, and returns
// it: the caller removes it.
func stageConverted(parent, daemonTOML, programsTOML string) (stage string, err error) {
	if stage, err = os.MkdirTemp(parent, ".convert-"); err != nil {
		return "", err
	}
	progs := filepath.Join(stage, "conf.d", "supervisord.toml")
	err = os.Mkdir(filepath.Dir(progs), 0o755)
	if err == nil {
		err = os.WriteFile(filepath.Join(stage, "ctlsupd.toml"), []byte(daemonTOML), 0o644)
	}
	if err == nil {
		err = os.WriteFile(progs, []byte(programsTOML), 0o644)
	}
	if err != nil {
		os.RemoveAll(stage)
		return "", err
	}
	return stage, nil
}

// printedLoads checks printed output as -o checks what it writes: the two
// files, laid out as in DIR, must load.
func printedLoads(daemonTOML, programsTOML string) error {
	stage, err := stageConverted("", daemonTOML, programsTOML)
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	if _, err := config.Load(filepath.Join(stage, "ctlsupd.toml")); err != nil {
		return fmt.Errorf("%w: %s", errDoesNotLoad, strings.ReplaceAll(err.Error(), stage+"/", ""))
	}
	return nil
}

// parseInterspersed parses flags wherever they stand among the other
// arguments (convert FILE -o DIR, as well as convert -o DIR FILE) and
// returns the others.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
