package main

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/ctlsup/ctlsup/api/xmlrpc"
)

// pyURL is supervisorctl's test of a -s value, as Python's urlparse
// makes it: a scheme, then a host or a path. It returns nil when the
// value passes, else why not, in Python's words.
func pyURL(value string) error {
	v := strings.TrimLeftFunc(value, func(r rune) bool { return r <= ' ' })
	v = strings.NewReplacer("\t", "", "\r", "", "\n", "").Replace(v)
	scheme := ""
	if i := strings.IndexByte(v, ':'); i > 0 && isASCIILetter(v[0]) && strings.IndexFunc(v[:i], notSchemeChar) < 0 {
		scheme, v = strings.ToLower(v[:i]), v[i+1:]
	}
	netloc := ""
	if rest, ok := strings.CutPrefix(v, "//"); ok {
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		netloc, v = rest[:end], rest[end:]
		if err := checkBrackets(netloc); err != nil {
			return err
		}
	}
	path, _, _ := strings.Cut(v, "#")
	path, _, _ = strings.Cut(path, "?")
	// In a scheme that has them, parameters after the last segment's ';'
	// are no part of the path.
	if usesParams[scheme] {
		from := max(strings.LastIndexByte(path, '/'), 0)
		if semi := strings.IndexByte(path[from:], ';'); semi >= 0 {
			path = path[:from+semi]
		}
	}
	if scheme == "" || netloc == "" && path == "" {
		return fmt.Errorf("value %s is not a URL", xmlrpc.PyQuote(value))
	}
	return nil
}

// checkBrackets refuses a host in brackets that Python's urlsplit
// refuses: brackets unpaired or misplaced, or a bracketed host that is
// no IPv6 address (nor an IPvFuture one).
func checkBrackets(netloc string) error {
	opened, closed := strings.Contains(netloc, "["), strings.Contains(netloc, "]")
	//lint:ignore ST1005 Python's words, which supervisorctl prints
	invalid := errors.New("Invalid IPv6 URL")
	if opened != closed {
		return invalid
	}
	if !opened {
		return nil
	}
	hostPort := netloc[strings.LastIndexByte(netloc, '@')+1:]
	before, bracketed, found := strings.Cut(hostPort, "[")
	host := ""
	if found {
		if before != "" {
			return invalid
		}
		var port string
		host, port, _ = strings.Cut(bracketed, "]")
		if port != "" && !strings.HasPrefix(port, ":") {
			return invalid
		}
	} else {
		host, _, _ = strings.Cut(hostPort, ":")
	}
	if strings.HasPrefix(host, "v") {
		if !ipvFuture.MatchString(host) {
			return errors.New("IPvFuture address is invalid")
		}
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%s does not appear to be an IPv4 or IPv6 address", xmlrpc.PyQuote(host))
	}
	if ip.Is4() {
		//lint:ignore ST1005 Python's words, which supervisorctl prints
		return errors.New("An IPv4 address cannot be in brackets")
	}
	return nil
}

var ipvFuture = regexp.MustCompile(`^v[a-fA-F0-9]+\..+$`)

// usesParams are the schemes whose paths Python's urlparse splits ';'
// parameters from.
var usesParams = map[string]bool{"ftp": true, "hdl": true, "prospero": true, "http": true, "imap": true, "https": true,
	"shttp": true, "rtsp": true, "rtspu": true, "sip": true, "sips": true, "mms": true, "sftp": true, "tel": true}

func notSchemeChar(r rune) bool {
	return r >= utf8.RuneSelf || !(isASCIILetter(byte(r)) || r >= '0' && r <= '9' || strings.ContainsRune("+-.", r))
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
