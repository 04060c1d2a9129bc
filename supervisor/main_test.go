package supervisor

import (
	"os"
	"testing"

	"github.com/ctlsup/ctlsup/internal/testhelper"
)

func TestMain(m *testing.M) {
	testhelper.Run()
	os.Exit(m.Run())
}
