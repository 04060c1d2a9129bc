package procfile

import "strings"

// Shell is how a Procfile command runs: /bin/sh -c, as foreman and honcho
// run it. A command that is one simple command is run as `exec COMMAND`,
// so the process is the program itself, not a shell that keeps it as a
// child (dash does): a signal (a stop, gunicorn's HUP) reaches the
// program, its pid is the program's, and its end is the program's.
// Grouped reports whether the shell stays, so that a stop must signal its
// whole process group to reach the command.
func Shell(command string) (argv []string, grouped bool) {
	if rest, ok := strings.CutPrefix(strings.TrimSpace(command), "exec "); ok && Simple(rest) {
		return []string{"/bin/sh", "-c", command}, false // exec'd already
	}
	if Simple(command) {
		return []string{"/bin/sh", "-c", "exec " + strings.TrimSpace(command)}, false
	}
	return []string{"/bin/sh", "-c", command}, true
}

// Simple reports whether command is one simple command that `exec`
// prefixed runs unchanged: no list, pipe, redirection, subshell, group or
// command substitution outside quotes, and a first word that names a
// program (not an assignment, a reserved word or a builtin with no
// program of its name). What it cannot tell is not simple.
func Simple(command string) bool {
	first, ok := firstWord(command)
	if !ok || first == "" || strings.ContainsAny(first, "=\\'\"$") || shellOnly[first] {
		return false
	}
	quote := byte(0)
	for i := 0; i < len(command); i++ {
		c := command[i]
		switch {
		case c == '`':
			return false // a substitution, quoted or not
		case quote == '\'':
			if c == '\'' {
				quote = 0
			}
		case c == '\\':
			if i+1 < len(command) && command[i+1] == '\n' {
				return false
			}
			i++ // the next character is literal (in double quotes too)
		case quote == '"':
			if c == '"' {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case strings.IndexByte(";&|<>(){}\n", c) >= 0:
			return false
		}
	}
	return quote == 0
}

// firstWord is the command's first blank-separated word, and whether the
// command has one.
func firstWord(command string) (string, bool) {
	fields := strings.Fields(command)
	if len(fields) == 0 {
		return "", false
	}
	return fields[0], true
}

// shellOnly are the words that, first, are not a program exec can run:
// reserved words, and builtins of dash with no program of their name.
var shellOnly = map[string]bool{
	"!": true, "case": true, "do": true, "done": true, "elif": true, "else": true, "esac": true,
	"fi": true, "for": true, "if": true, "in": true, "then": true, "until": true, "while": true,
	"function": true, "select": true, "time": true, "[[": true,
	".": true, ":": true, "alias": true, "bg": true, "break": true, "cd": true, "command": true,
	"continue": true, "eval": true, "exec": true, "exit": true, "export": true, "fc": true,
	"fg": true, "getopts": true, "hash": true, "jobs": true, "local": true, "read": true,
	"readonly": true, "return": true, "set": true, "shift": true, "source": true, "times": true,
	"trap": true, "type": true, "ulimit": true, "umask": true, "unalias": true, "unset": true,
	"wait": true,
}
