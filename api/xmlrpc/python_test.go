package xmlrpc

import "testing"

// TestPyQuote: strings are quoted as Python 3's repr() quotes them (the
// expected results are its).
func TestPyQuote(t *testing.T) {
	for in, want := range map[string]string{
		"a\x00b":           `'a\x00b'`,
		"x\x7fy":           `'x\x7fy'`,
		"café":             `'café'`,
		"\u0085":           `'\x85'`,
		"\u200b":           `'\u200b'`,
		"\U000e0001":       `'\U000e0001'`,
		"it's":             `"it's"`,
		`a"b'c`:            `'a"b\'c'`,
		"tab\there":        `'tab\there'`,
		"nb\u00a0sp":       `'nb\xa0sp'`,
		"\u2028":           `'\u2028'`,
		"emoji \U0001F600": `'emoji 😀'`,
		`back\slash`:       `'back\\slash'`,
		"":                 `''`,
	} {
		if got := PyQuote(in); got != want {
			t.Errorf("PyQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
