package main

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// option is one parsed option: its name as getopt reports it (-c,
// --configuration) and its value ("" for a flag).
type option struct {
	name, value string
}

// getopt parses args as Python's getopt.getopt, which supervisorctl uses,
// so that scripts written for it mean the same here: short options may
// be clustered (-iv) and take a value glued (-c/etc/x.conf) or as the
// next argument, whatever it looks like (-p -secret); a long option may
// be abbreviated to a unique prefix (--serv) and take its value after
// '=' or as the next argument; parsing stops at the first argument that
// is no option, at "-", and after "--". shorts is getopt's spec ("c:"
// takes a value); a long name ending in '=' takes one.
func getopt(args []string, shorts string, longs []string) ([]option, []string, error) {
	var opts []option
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-" {
		a := args[0]
		args = args[1:]
		if a == "--" {
			break
		}
		var err error
		if long, ok := strings.CutPrefix(a, "--"); ok {
			opts, args, err = getoptLong(opts, long, longs, args)
		} else {
			opts, args, err = getoptShort(opts, a[1:], shorts, args)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return opts, args, nil
}

func getoptLong(opts []option, arg string, longs []string, args []string) ([]option, []string, error) {
	name, value, hasValue := strings.Cut(arg, "=")
	var matches []string
	for _, l := range longs {
		if strings.HasPrefix(l, name) {
			matches = append(matches, l)
		}
	}
	match := ""
	for _, m := range matches {
		if m == name || m == name+"=" {
			match = m
		}
	}
	switch {
	case len(matches) == 0:
		return nil, nil, fmt.Errorf("option --%s not recognized", name)
	case match == "" && len(matches) > 1:
		return nil, nil, fmt.Errorf("option --%s not a unique prefix", name)
	case match == "":
		match = matches[0]
	}
	full, takesValue := strings.CutSuffix(match, "=")
	switch {
	case takesValue && !hasValue:
		if len(args) == 0 {
			return nil, nil, fmt.Errorf("option --%s requires argument", full)
		}
		value, args = args[0], args[1:]
	case !takesValue && hasValue:
		return nil, nil, fmt.Errorf("option --%s must not have an argument", full)
	}
	return append(opts, option{"--" + full, value}), args, nil
}

func getoptShort(opts []option, cluster, shorts string, args []string) ([]option, []string, error) {
	for cluster != "" {
		_, size := utf8.DecodeRuneInString(cluster)
		c := cluster[:size]
		cluster = cluster[size:]
		i := strings.Index(shorts, c)
		if c == ":" || i < 0 {
			return nil, nil, fmt.Errorf("option -%s not recognized", c)
		}
		value := ""
		if strings.HasPrefix(shorts[i+1:], ":") {
			if cluster == "" {
				if len(args) == 0 {
					return nil, nil, fmt.Errorf("option -%s requires argument", c)
				}
				cluster, args = args[0], args[1:]
			}
			value, cluster = cluster, ""
		}
		opts = append(opts, option{"-" + c, value})
	}
	return opts, args, nil
}
