package testutil

import (
	"fmt"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/localnginx"
)

// The private nginx lives in internal/localnginx, which the example CLI's
// demo uses too; these names keep the tests' vocabulary.
type NginxServer = localnginx.Server

// PlaceholderUpstream is what StartNginx writes to the upstream file: a
// closed port, so requests answer 502 until a deploy routes the upstream.
const PlaceholderUpstream = localnginx.PlaceholderUpstream

// ErrNginxMissing is returned when no nginx binary can be found.
var ErrNginxMissing = localnginx.ErrMissing

// NginxBinary returns the path of the nginx binary, or ErrNginxMissing.
func NginxBinary() (string, error) { return localnginx.Binary() }

// StartNginx starts a private nginx with its prefix in dir (see
// localnginx.Start). The caller must Close it.
func StartNginx(dir string) (*NginxServer, error) { return localnginx.Start(dir) }

// Nginx starts a private nginx in a t.TempDir and stops it in t.Cleanup. When
// the test failed, the cleanup logs the end of nginx's error log. It skips
// like RequireNginx when nginx is not installed.
func Nginx(t testing.TB) *NginxServer {
	t.Helper()
	RequireNginx(t)
	n, err := StartNginx(t.TempDir())
	if err != nil {
		t.Fatalf("testutil.Nginx: %v", err)
	}
	stopOnCleanup(t, "testutil.Nginx", func() string {
		return fmt.Sprintf("nginx error log (%s), last lines:\n%s", n.ErrorLog, n.ErrorLogTail(4096))
	}, n.Close)
	return n
}

// stopOnCleanup closes a private server when the test ends, logging what
// its log says when the test failed.
func stopOnCleanup(t testing.TB, name string, logTail func() string, close func() error) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logTail())
		}
		if err := close(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	})
}
