package osruntime

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
)

// TestFingerprint_SameAsRoundTrip: the sum written straight from the spec
// equals the JSON round trip's for specs of every shape, so a daemon
// upgraded across the change adopts its programs without restarting them.
func TestFingerprint_SameAsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		var spec supervisor.ProcessSpec
		fillRandom(rng, reflect.ValueOf(&spec).Elem(), 0)
		want := fingerprintJSON(&spec)
		if got := fingerprint(&spec); got != want {
			b, _ := appendCanonical(nil, reflect.ValueOf(&spec).Elem())
			t.Fatalf("spec %d: fingerprint %s, round trip %s; canonical text:\n%s\nspec: %#v", i, got, want, b, spec)
		}
	}
	zero := 0
	for _, spec := range []*supervisor.ProcessSpec{
		testSpec(),
		{}, // every member dropped: the round trip still prints {}
		{Environment: map[string]string{"EMPTY": ""}},
		{Limits: supervisor.Limits{OOMScoreAdj: &zero}},
	} {
		if got, want := fingerprint(spec), fingerprintJSON(spec); got != want {
			t.Errorf("fingerprint of %+v: %s, round trip %s", spec, got, want)
		}
	}
	// Configurations load a program without an environment as nil where
	// earlier daemons loaded an empty map: the same sum, so an upgrade
	// adopts those programs.
	noEnv := testSpec()
	noEnv.Environment = nil
	emptyEnv := testSpec()
	emptyEnv.Environment = map[string]string{}
	if a, b := fingerprint(noEnv), fingerprint(emptyEnv); a != b {
		t.Errorf("no environment: fingerprint %s, an empty one %s", a, b)
	}
	// The sum earlier daemons wrote for the test spec: an upgrade must
	// find it again, even if both functions above were changed alike.
	if got := fingerprint(testSpec()); got != testSpecFingerprint {
		t.Errorf("the test spec's fingerprint is %s, earlier daemons computed %s", got, testSpecFingerprint)
	}
}

// testSpecFingerprint is fingerprintJSON(testSpec()) as of the JSON round
// trip's last release.
const testSpecFingerprint = "422e1b57f9c8d17b"

// A type with its own JSON form is left to the round trip.
func TestFingerprint_OwnJSONFormFallsBack(t *testing.T) {
	if _, err := appendCanonical(nil, reflect.ValueOf(struct{ At time.Time }{time.Unix(1, 0)})); err == nil {
		t.Error("a time.Time was written field by field")
	}
}

// TestFingerprint_DirectPath: the specs a configuration gives are written
// straight, not through the round trip kept for what it cannot write.
func TestFingerprint_DirectPath(t *testing.T) {
	if _, err := appendCanonical(nil, reflect.ValueOf(testSpec()).Elem()); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() { fingerprint(testSpec()) })
	roundTrip := testing.AllocsPerRun(20, func() { fingerprintJSON(testSpec()) })
	if allocs*4 > roundTrip {
		t.Errorf("fingerprint allocates %.0f times, the round trip %.0f", allocs, roundTrip)
	}
}

var randomStrings = []string{
	"", "", "a", "web", "/usr/bin/gunicorn", "a<b>&c", "quote\"back\\slash",
	"\x00\x01\x1f\x7f", "\b\f\n\r\t", "\u2028\u2029", "\xff", "ok\xfe\xffbad",
	"é日本", "\uFFFD", "line\nbreak", "PATH", "PATH\xff", "PATH\xfe",
}

var randomNumbers = []int64{
	0, 0, 1, -1, 3, 1000, 2_000_000_000, 1 << 53, 1<<53 + 1,
	math.MaxInt64, math.MinInt64, 5_000_000_001, -42,
}

// fillRandom sets v to a random value, with zeros, empties and the
// strings and numbers JSON treats specially over-represented.
func fillRandom(rng *rand.Rand, v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := randomNumbers[rng.IntN(len(randomNumbers))]
		if v.OverflowInt(n) {
			n = int64(rng.IntN(100))
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n := uint64(randomNumbers[rng.IntN(len(randomNumbers))])
		if v.OverflowUint(n) {
			n = uint64(rng.IntN(100))
		}
		v.SetUint(n)
	case reflect.String:
		v.SetString(randomStrings[rng.IntN(len(randomStrings))])
	case reflect.Pointer:
		if rng.IntN(2) == 0 {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fillRandom(rng, v.Elem(), depth+1)
	case reflect.Slice:
		switch rng.IntN(4) {
		case 0:
			return // nil
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			return
		}
		n := 1 + rng.IntN(3)
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := range n {
			if rng.IntN(3) > 0 {
				fillRandom(rng, v.Index(i), depth+1)
			}
		}
	case reflect.Map:
		switch rng.IntN(4) {
		case 0:
			return
		case 1:
			v.Set(reflect.MakeMap(v.Type()))
			return
		}
		m := reflect.MakeMap(v.Type())
		for range 1 + rng.IntN(4) {
			k := reflect.New(v.Type().Key()).Elem()
			fillRandom(rng, k, depth+1)
			e := reflect.New(v.Type().Elem()).Elem()
			fillRandom(rng, e, depth+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && rng.IntN(3) > 0 {
				fillRandom(rng, v.Field(i), depth+1)
			}
		}
	}
}

// TestSameConfig_ListenerOfAnEarlierDaemon: a daemon upgraded from one
// that gave a listener without a priority -1 (now 999) finds its
// configuration unchanged, and only that.
func TestSameConfig_ListenerOfAnEarlierDaemon(t *testing.T) {
	listener := testSpec()
	listener.Stdin, listener.Priority = true, 999
	earlier := *listener
	earlier.Priority = -1
	if !sameConfig(fingerprint(&earlier), listener) {
		t.Error("a listener recorded with priority -1 is taken for changed")
	}
	if !sameConfig(fingerprint(listener), listener) {
		t.Error("a listener recorded as it is is taken for changed")
	}
	program := testSpec()
	program.Priority = 999
	earlierProgram := *program
	earlierProgram.Priority = -1
	if sameConfig(fingerprint(&earlierProgram), program) {
		t.Error("a program without stdin whose priority changed is taken for unchanged")
	}
	changed := earlier
	changed.Argv = []string{"/bin/other"}
	if sameConfig(fingerprint(&changed), listener) {
		t.Error("a listener whose command changed is taken for unchanged")
	}
}

// TestFingerprint_DiscardedStreamsRotation: the rotation settings of a
// stream sent nowhere change nothing a program runs, and daemons before
// 2026-12 recorded such a stream without them: its fingerprint is the
// same either way, so an upgrade adopts the program as it is.
func TestFingerprint_DiscardedStreamsRotation(t *testing.T) {
	earlier := testSpec()
	earlier.Stdout, earlier.Stderr = supervisor.LogSpec{}, supervisor.LogSpec{Path: "/var/log/x.err", MaxBytes: 1 << 20, Backups: 2}
	now := *earlier
	now.Stdout = supervisor.LogSpec{MaxBytes: 50 << 20, Backups: 10}
	if fingerprint(&now) != fingerprint(earlier) {
		t.Error("a discarded stream's rotation settings changed the fingerprint")
	}
	kept := *earlier
	kept.Stderr.MaxBytes = 2 << 20
	if fingerprint(&kept) == fingerprint(earlier) {
		t.Error("a written stream's rotation settings left the fingerprint alone")
	}
}
