package testhelper

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// leaderExitsSource is a program whose main thread exits at once while a
// second thread runs on: /proc shows its leader as a zombie ('Z') for as
// long as the process lives. The second thread says "thread runs" on
// stdout and waits for signals; SIGUSR1 makes it say "usr1". It ends
// itself after 300 s, so that a failed test leaves none behind for long.
// Go cannot end its own main thread, so the program is C.
const leaderExitsSource = `#include <pthread.h>
#include <signal.h>
#include <unistd.h>

static void usr1(int sig) {
	(void)sig;
	write(1, "usr1\n", 5);
}

static void *run(void *arg) {
	(void)arg;
	write(1, "thread runs\n", 12);
	for (;;)
		pause();
	return 0;
}

int main(void) {
	pthread_t t;
	signal(SIGUSR1, usr1);
	alarm(300);
	if (pthread_create(&t, 0, run, 0) != 0)
		return 1;
	pthread_exit(0);
}
`

// LeaderExitsProgram builds the program leaderExitsSource describes into
// a temporary directory and returns its path. It needs the C compiler
// that cgo and -race need too, and fails the test without one.
func LeaderExitsProgram(t testing.TB) string {
	t.Helper()
	cc := strings.Fields(os.Getenv("CC")) // it may hold flags
	if len(cc) == 0 {
		cc = []string{"cc"}
	}
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "leader-exits.c"), filepath.Join(dir, "leader-exits")
	if err := os.WriteFile(src, []byte(leaderExitsSource), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cc[0], append(cc[1:], "-pthread", "-o", bin, src)...).CombinedOutput(); err != nil {
		t.Fatalf("building a C test program with %s (install gcc, which cgo needs too): %v\n%s", cc, err, out)
	}
	return bin
}
