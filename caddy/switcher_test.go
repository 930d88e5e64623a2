package caddy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/bluegreentest"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

func TestCaddySwitcherContract(t *testing.T) {
	bluegreentest.SwitcherContract(t, func(t *testing.T) bluegreen.Switcher {
		return switcher(t, testutil.Caddy(t))
	})
}

func TestCaddySwitchMovesTraffic(t *testing.T) {
	c := testutil.Caddy(t)
	blue, green := newBackend(t, "blue"), newBackend(t, "green")
	sw := switcher(t, c)
	ctx := t.Context()

	if got, err := sw.Active(ctx); err != nil || got != bluegreen.None {
		t.Fatalf("Active before any switch = %v, %v; want none (the upstream was written by hand)", got, err)
	}
	if _, err := get(c.URL); err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("before any switch: %v; want 502 from the placeholder upstream", err)
	}

	for _, step := range []struct {
		slot  bluegreen.Slot
		addrs []string
	}{
		{bluegreen.Blue, []string{blue.addr()}},
		{bluegreen.Green, []string{green.addr()}},
		{bluegreen.Blue, []string{blue.addr(), blue.addr()}},
	} {
		start := time.Now()
		mustSwitch(t, sw, step.slot, step.addrs...)
		t.Logf("Switch to %s took %s", step.slot, time.Since(start))
		// No retry: once Switch returns, Caddy runs the new config.
		for i := range 10 {
			if got, err := get(c.URL); err != nil || got != string(step.slot) {
				t.Fatalf("request %d after the switch to %s: %q, %v", i, step.slot, got, err)
			}
		}
		if got, err := sw.Active(ctx); err != nil || got != step.slot {
			t.Errorf("Active = %v, %v; want %s", got, err, step.slot)
		}
	}

	// The marker is an "@id" on the first upstream, nothing else.
	var ups []map[string]any
	if err := json.Unmarshal([]byte(adminDo(t, c, http.MethodGet, "/id/web/upstreams", "")), &ups); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{{"@id": "bluegreen.web.blue", "dial": blue.addr()}, {"dial": blue.addr()}}
	if fmt.Sprint(ups) != fmt.Sprint(want) {
		t.Errorf("upstreams in Caddy's config = %v, want %v", ups, want)
	}
}

// TestCaddySwitchUnderLoad switches 20 times while 8 keep-alive clients send
// requests through Caddy without pause: none may fail.
func TestCaddySwitchUnderLoad(t *testing.T) {
	c := testutil.Caddy(t)
	sw, addrs := routedToBlue(t, c)

	load := testutil.Load(t, c.URL)
	var switches, drains []time.Duration
	slot := bluegreen.Blue
	for range 20 {
		time.Sleep(100 * time.Millisecond)
		slot = slot.Other()
		start := time.Now()
		mustSwitch(t, sw, slot, addrs[slot])
		switches = append(switches, time.Since(start))
		start = time.Now()
		if err := sw.Drain(t.Context()); err != nil {
			t.Fatalf("Drain: %v", err)
		}
		drains = append(drains, time.Since(start))
	}
	time.Sleep(100 * time.Millisecond)
	res := load.Stop()
	t.Logf("load: %v", res)
	t.Logf("switch: %s; drain: %s", summary(switches), summary(drains))
	if res.Failed != 0 {
		t.Errorf("%d of %d requests failed during 20 switches: %v", res.Failed, res.Sent, res.Failures)
	}
	if res.Versions["blue"] == 0 || res.Versions["green"] == 0 || len(res.Versions) != 2 {
		t.Errorf("answered by %v; want blue and green only", res.Versions)
	}
	if got, err := get(c.URL); err != nil || got != string(slot) {
		t.Errorf("after the last switch: %q, %v; want %s", got, err, slot)
	}
}

func summary(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("min %s, median %s, max %s over %d", s[0].Round(time.Microsecond), s[len(s)/2].Round(time.Microsecond),
		s[len(s)-1].Round(time.Microsecond), len(s))
}

// hook is an http.RoundTripper that calls before on each PATCH, then sends
// it, then calls after with its outcome.
type hook struct {
	before func()
	after  func(*http.Response, error) (*http.Response, error)
}

func (h hook) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPatch {
		return http.DefaultTransport.RoundTrip(req)
	}
	if h.before != nil {
		h.before()
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if h.after != nil {
		return h.after(resp, err)
	}
	return resp, err
}

// TestCaddySwitchConflict changes the handler between the read and the
// PATCH of a Switch, as another client of the admin API would: Caddy
// refuses the PATCH (If-Match), and the other change stays.
func TestCaddySwitchConflict(t *testing.T) {
	c := testutil.Caddy(t)
	blue, green, other := newBackend(t, "blue"), newBackend(t, "green"), newBackend(t, "other")
	sw := switcher(t, c)
	mustSwitch(t, sw, bluegreen.Blue, blue.addr())

	sw.Client = &http.Client{Transport: hook{before: func() {
		adminDo(t, c, http.MethodPatch, "/id/web/upstreams", fmt.Sprintf(`[{"dial": %q}]`, other.addr()))
	}}}
	err := sw.Switch(t.Context(), bluegreen.Green, []string{green.addr()})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("Switch with a concurrent change: %v; want an error wrapping ErrConflict", err)
	}
	t.Logf("Switch: %v", err)
	if got, err := get(c.URL); err != nil || got != "other" {
		t.Errorf("after the refused switch: %q, %v; want the concurrent change (other) in place", got, err)
	}
}

// TestCaddySwitchRefused makes Caddy fail to load any new config (a
// certificate file it loads is gone): the switch fails with Caddy's reason,
// and Caddy keeps routing to blue.
func TestCaddySwitchRefused(t *testing.T) {
	c := testutil.Caddy(t)
	blue, green := newBackend(t, "blue"), newBackend(t, "green")
	sw := switcher(t, c)
	mustSwitch(t, sw, bluegreen.Blue, blue.addr())

	cert, key := writeCert(t)
	adminDo(t, c, http.MethodPut, "/config/apps/tls",
		fmt.Sprintf(`{"certificates": {"load_files": [{"certificate": %q, "key": %q}]}}`, cert, key))
	if err := os.Remove(cert); err != nil {
		t.Fatal(err)
	}

	err := sw.Switch(t.Context(), bluegreen.Green, []string{green.addr()})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("Switch: %v; want an error wrapping ErrRefused with Caddy's reason", err)
	}
	if !strings.Contains(err.Error(), "still routes to ["+blue.addr()+"], as before") {
		t.Errorf("Switch error does not say the routing was read back unchanged: %v", err)
	}
	t.Logf("Switch: %v", err)
	if got, err := sw.Active(t.Context()); err != nil || got != bluegreen.Blue {
		t.Errorf("Active after the refused switch = %v, %v; want blue", got, err)
	}
	for i := range 10 {
		if got, err := get(c.URL); err != nil || got != "blue" {
			t.Fatalf("request %d after the refused switch: %q, %v; want blue", i, got, err)
		}
	}
}

// TestCaddySwitchAnswerLost loses Caddy's answer to the PATCH: Switch reads
// the routing back, finds the change in place, and succeeds.
func TestCaddySwitchAnswerLost(t *testing.T) {
	c := testutil.Caddy(t)
	blue, green := newBackend(t, "blue"), newBackend(t, "green")
	sw := switcher(t, c)
	mustSwitch(t, sw, bluegreen.Blue, blue.addr())
	var lost atomic.Bool
	sw.Client = &http.Client{Transport: hook{after: func(resp *http.Response, err error) (*http.Response, error) {
		if err == nil && lost.CompareAndSwap(false, true) {
			resp.Body.Close()
			return nil, errors.New("connection reset (injected)")
		}
		return resp, err
	}}}
	if err := sw.Switch(t.Context(), bluegreen.Green, []string{green.addr()}); err != nil {
		t.Fatalf("Switch whose answer was lost: %v; want nil, the change being in place", err)
	}
	if got, err := get(c.URL); err != nil || got != "green" {
		t.Errorf("after the switch: %q, %v; want green", got, err)
	}
}

// writeCert writes a self-signed certificate and its key into a temporary
// directory.
func writeCert(t *testing.T) (cert, key string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "bluegreen.test"},
		DNSNames:     []string{"bluegreen.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// TestCaddyActive reads the slot from upstreams as a person or another tool
// may have left them.
func TestCaddyActive(t *testing.T) {
	c := testutil.Caddy(t)
	sw := switcher(t, c)
	for _, tc := range []struct {
		name      string
		upstreams string
		want      bluegreen.Slot
		wantErr   error
	}{
		{"written by hand", `[{"dial": "127.0.0.1:8081"}]`, bluegreen.None, nil},
		{"an @id of the user's", `[{"@id": "mine", "dial": "127.0.0.1:8081"}]`, bluegreen.None, nil},
		{"blue", `[{"@id": "bluegreen.web.blue", "dial": "127.0.0.1:8081"}, {"dial": "127.0.0.1:8082"}]`, bluegreen.Blue, nil},
		{"green", `[{"@id": "bluegreen.web.green", "dial": "127.0.0.1:8080"}]`, bluegreen.Green, nil},
		{"marker moved", `[{"dial": "127.0.0.1:8082"}, {"@id": "bluegreen.web.blue", "dial": "127.0.0.1:8081"}]`, bluegreen.None, ErrUnmanaged},
		{"two markers", `[{"@id": "bluegreen.web.blue", "dial": "127.0.0.1:8081"}, {"@id": "bluegreen.web.green", "dial": "127.0.0.1:8080"}]`, bluegreen.None, ErrUnmanaged},
		{"unknown slot", `[{"@id": "bluegreen.web.red", "dial": "127.0.0.1:8081"}]`, bluegreen.None, ErrUnmanaged},
		{"no upstreams", `[]`, bluegreen.None, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			adminDo(t, c, http.MethodPatch, "/id/web/upstreams", tc.upstreams)
			got, err := sw.Active(t.Context())
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Errorf("Active = %v, %v; want %v, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
