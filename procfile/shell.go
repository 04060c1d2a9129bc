package procfile

import "strings"

// Shell is how a Procfile command runs: /bin/sh -c, as foreman and honcho
// run it. A command that is one simple command has `exec` put before its
// command word, so the process is the program itself, not a shell that
// keeps it as a child (dash does): a signal (a stop, gunicorn's HUP)
// reaches the program, its pid is the program's, and its end is the
// program's. Grouped reports whether the shell stays, so that a stop must
// signal its whole process group to reach the command.
func Shell(command string) (argv []string, grouped bool) {
	at, ok := simple(command)
	switch {
	case !ok:
		return []string{"/bin/sh", "-c", command}, true
	case at < 0:
		return []string{"/bin/sh", "-c", command}, false // exec'd already
	}
	return []string{"/bin/sh", "-c", command[:at] + "exec " + command[at:]}, false
}

// simple reports whether command is one simple command: no list, pipe,
// background job, subshell, group or command substitution outside quotes
// (a redirection, ${NAME...} and a comment are fine), its command word a
// program (not a reserved word or a builtin with no program of its name,
// or one whose program differs, as dash's echo). It returns where the
// command word begins, after any NAME=value assignments, or -1 if that
// word is exec. What it cannot tell is not simple.
func simple(command string) (at int, ok bool) {
	at = -1
	word := -1 // where the word being read began; -1 between words
	endWord := func(end int) bool {
		w := command[word:end]
		word = -1
		if at >= 0 {
			return true
		}
		if assignment(w) {
			return true
		}
		if strings.ContainsAny(w, "\\'\"$") || shellOnly[w] {
			return false // a word the shell must read, or not a program
		}
		at = end - len(w)
		return true
	}
	quote := byte(0)
	i := 0
	for ; i < len(command); i++ {
		c := command[i]
		if quote == 0 && (c == ' ' || c == '\t') {
			if word >= 0 && !endWord(i) {
				return 0, false
			}
			continue
		}
		if word < 0 {
			if c == '#' && quote == 0 {
				break // a comment, to the end of the line
			}
			word = i
		}
		switch {
		case c == '`':
			return 0, false // a substitution, quoted or not
		case quote == '\'':
			if c == '\'' {
				quote = 0
			}
		case c == '\\':
			if i+1 < len(command) && command[i+1] == '\n' {
				return 0, false
			}
			i++ // the next character is literal (in double quotes too)
		case c == '$' && i+1 < len(command) && command[i+1] == '{':
			// ${NAME}, ${NAME:-default}: an expansion, not a group.
			end := strings.IndexByte(command[i:], '}')
			if end < 0 || strings.ContainsAny(command[i+2:i+end], "`$") {
				return 0, false
			}
			i += end
		case quote == '"':
			if c == '"' {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '&' && i > 0 && (command[i-1] == '>' || command[i-1] == '<'):
			// 2>&1: a redirection, not a background job.
		case strings.IndexByte(";&|(){}\r\n", c) >= 0:
			return 0, false
		}
	}
	if quote != 0 {
		return 0, false
	}
	if word >= 0 && !endWord(i) {
		return 0, false
	}
	if at < 0 {
		return 0, false // assignments alone, or nothing
	}
	if w := strings.Fields(command[at:])[0]; w == "exec" {
		return -1, true
	}
	return at, true
}

// assignment reports whether word is NAME=value.
func assignment(word string) bool {
	eq := strings.IndexByte(word, '=')
	if eq <= 0 {
		return false
	}
	for i, c := range word[:eq] {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// shellOnly are the words that, first, are not a program exec runs as the
// shell would: reserved words, builtins of dash with no program of their
// name, and those whose program behaves otherwise (dash's echo reads
// backslash escapes; its pwd keeps the logical path).
var shellOnly = map[string]bool{
	"!": true, "case": true, "do": true, "done": true, "elif": true, "else": true, "esac": true,
	"fi": true, "for": true, "if": true, "in": true, "then": true, "until": true, "while": true,
	"function": true, "select": true, "time": true, "[[": true,
	".": true, ":": true, "alias": true, "bg": true, "break": true, "cd": true, "chdir": true,
	"command": true, "continue": true, "eval": true, "exit": true, "export": true, "fc": true,
	"fg": true, "getopts": true, "hash": true, "jobs": true, "local": true, "read": true,
	"readonly": true, "return": true, "set": true, "shift": true, "source": true, "times": true,
	"trap": true, "type": true, "ulimit": true, "umask": true, "unalias": true, "unset": true,
	"wait": true,
	"echo": true, "printf": true, "pwd": true, "kill": true, "test": true, "[": true,
	"true": true, "false": true,
}
