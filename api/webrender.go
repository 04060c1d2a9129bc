package api

import (
	"html"
	"net/url"
	"strconv"
	"strings"
)

// renderGroups writes the rows the script draws (without their buttons,
// with a link to each tail page), so that the page served says every
// process's state without running a script: HTTP checks that look for a
// name or "running" in it (as they did in supervisord's, whose state it
// writes in lower case), and text browsers. The script replaces them at
// its first update.
func renderGroups(procs []uiProcess) string {
	if len(procs) == 0 {
		return "<p>No programs to manage</p>"
	}
	esc := html.EscapeString
	var b strings.Builder
	for i, p := range procs {
		if i == 0 || procs[i-1].Group != p.Group {
			if i > 0 {
				b.WriteString("</section>\n")
			}
			b.WriteString(`<section data-group="` + esc(p.Group) + `"><h2>` + esc(p.Group) + "</h2>\n")
		}
		desc := "desc"
		if p.Backoff || p.State == "FATAL" {
			desc += " alert"
		}
		state := strings.ToLower(p.State)
		b.WriteString(`<div class="row" data-process="` + esc(p.Spec) + `" data-pid="` + strconv.Itoa(p.Pid) + `"><span class="name"><a href="tail.html?processname=` +
			esc(url.QueryEscape(p.Spec)) + `">` + esc(p.Spec) + `</a></span><span class="state ` + esc(state) + " " + statusClass(p.State) + `">` +
			esc(state) + `</span><span class="` + desc + `">` + esc(p.Description) + "</span></div>\n")
	}
	b.WriteString("</section>\n")
	return b.String()
}

// statusClass is the class supervisord's page gives a state, which checks
// of its page may look for (statuserror: FATAL or BACKOFF).
func statusClass(state string) string {
	switch state {
	case "RUNNING":
		return "statusrunning"
	case "FATAL", "BACKOFF":
		return "statuserror"
	}
	return "statusnominal"
}
