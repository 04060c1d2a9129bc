package procfile

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	entries, err := Parse(strings.NewReader("# the CTS app\nweb: gunicorn cts.wsgi --bind :$PORT\n\nworker:celery -A cts worker\nbeat-1: celery -A cts beat # not a comment\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{"web", "gunicorn cts.wsgi --bind :$PORT", 2},
		{"worker", "celery -A cts worker", 4},
		{"beat-1", "celery -A cts beat # not a comment", 5},
	}
	if !reflect.DeepEqual(entries, want) {
		t.Errorf("got %+v", entries)
	}
	for in, line := range map[string]int{
		"web: a\nbad line\n":      2,
		"web a\n":                 1,
		"w.b: x\n":                1,
		"web:\n":                  1,
		"web: a\n\n# c\nweb: b\n": 4,
	} {
		_, err := Parse(strings.NewReader(in))
		var pe *Error
		if !errors.As(err, &pe) || pe.Line != line {
			t.Errorf("%q: %v, want an error on line %d", in, err, line)
		}
	}
}

func TestParseEnv(t *testing.T) {
	vars, err := ParseEnv(strings.NewReader("# settings\nexport DJANGO_SETTINGS_MODULE=cts.settings.local\nSECRET='a%b$c'\nGREETING=\"hello \\\"you\\\"\\nthere\"\nEMPTY=\nURL=postgres://u:p%40ss@db/x # kept\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Var{{"DJANGO_SETTINGS_MODULE", "cts.settings.local"}, {"SECRET", "a%b$c"},
		{"GREETING", "hello \"you\"\nthere"}, {"EMPTY", ""}, {"URL", "postgres://u:p%40ss@db/x # kept"}}
	if !reflect.DeepEqual(vars, want) {
		t.Errorf("got %+v", vars)
	}
	// A comment after a quoted value, and "export" followed by a tab.
	vars, err = ParseEnv(strings.NewReader("A=\"x\" # the shell's comment\nexport\tB=tab\nC='y'\t#c\nD=\"a\\\"b\"\nexported=1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []Var{{"A", "x"}, {"B", "tab"}, {"C", "y"}, {"D", `a"b`}, {"exported", "1"}}; !reflect.DeepEqual(vars, want) {
		t.Errorf("got %+v, want %+v", vars, want)
	}
	for _, bad := range []string{"NOVALUE\n", "1X=2\n", "A='open\n", "A=\"x\"y\n", "A=\"x\\\"\n"} {
		if _, err := ParseEnv(strings.NewReader(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestFormation(t *testing.T) {
	for in, want := range map[string][3]int{ // web, worker, beat
		"":                   {1, 1, 1},
		"web=2,worker=4":     {2, 4, 0},
		"all=2":              {2, 2, 2},
		"all=1,worker=3":     {1, 3, 1},
		" web = 2 , beat=0 ": {2, 0, 0},
		"beat=2":             {0, 0, 2},
		"webcall=1":          {0, 0, 0}, // a name ending in "all" is not all
	} {
		f, err := ParseFormation(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := [3]int{f.Count("web"), f.Count("worker"), f.Count("beat")}; got != want {
			t.Errorf("%q: %v, want %v", in, got, want)
		}
	}
	for _, bad := range []string{"web", "web=x", "web=-1", "w b=1"} {
		if _, err := ParseFormation(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	only, _ := ParseFormation("worker=3")
	only = only.Only([]string{"web", "worker"})
	if got := [3]int{only.Count("web"), only.Count("worker"), only.Count("beat")}; got != [3]int{1, 3, 0} {
		t.Errorf("worker=3 narrowed to web and worker: %v, want [1 3 0]", got)
	}
	if Port(5000, 0, 0) != 5000 || Port(5000, 1, 2) != 5102 {
		t.Error("ports are base + 100 per type + index")
	}
}

func FuzzParse(f *testing.F) {
	f.Add("web: gunicorn app:app\nworker: celery worker\n# c\n")
	f.Add("bad line\n")
	f.Fuzz(func(t *testing.T, in string) {
		entries, err := Parse(strings.NewReader(in))
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) && !strings.Contains(err.Error(), "token too long") {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		for _, e := range entries {
			if e.Name == "" || e.Command == "" || e.Line < 1 {
				t.Fatalf("bad entry %+v", e)
			}
		}
	})
}

func FuzzParseEnv(f *testing.F) {
	f.Add("export A=1\nB='x'\nC=\"y\\n\"\n# c\n")
	f.Fuzz(func(t *testing.T, in string) {
		vars, err := ParseEnv(strings.NewReader(in))
		if err == nil {
			for _, v := range vars {
				if !keyRE.MatchString(v.Key) {
					t.Fatalf("bad key %q", v.Key)
				}
			}
		}
	})
}
