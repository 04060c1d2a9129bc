package api

import (
	"strings"
	"testing"
)

// TestRenderGroups: names are escaped where a name could break the page,
// and an empty daemon says so as supervisord's page does.
func TestRenderGroups(t *testing.T) {
	if got := renderGroups(nil); got != "<p>No programs to manage</p>" {
		t.Errorf("no processes: %q", got)
	}
	got := renderGroups([]uiProcess{
		{Group: "a<b", Name: "x", Spec: "a<b:x", State: "FATAL", Description: `"quoted" & <tag>`},
		{Group: "c", Name: "c", Spec: "c", State: "RUNNING", Pid: 7},
	})
	for _, want := range []string{
		`<section data-group="a&lt;b"><h2>a&lt;b</h2>`,
		`href="tail.html?processname=a%3Cb%3Ax">a&lt;b:x</a>`,
		`<span class="state fatal statuserror">fatal</span><span class="desc alert">&#34;quoted&#34; &amp; &lt;tag&gt;</span>`,
		`</section>` + "\n" + `<section data-group="c">`,
		`data-process="c" data-pid="7"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "<section") != strings.Count(got, "</section>") {
		t.Errorf("sections unbalanced:\n%s", got)
	}
}
