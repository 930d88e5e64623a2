package proxy_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/proxy"
)

// Two releases, each answering its name; the proxy sends traffic to one,
// then to the other.
func ExampleSwitcher() {
	ctx := context.Background()
	addrs := map[bluegreen.Slot]string{}
	for _, slot := range []bluegreen.Slot{bluegreen.Blue, bluegreen.Green} {
		release := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "release in %s", slot)
		}))
		defer release.Close()
		addrs[slot] = release.Listener.Addr().String()
	}

	p := &proxy.Switcher{}
	front := httptest.NewServer(p)
	defer front.Close()

	fmt.Println(get(front.URL))
	for _, slot := range []bluegreen.Slot{bluegreen.Blue, bluegreen.Green} {
		if err := p.Switch(ctx, slot, []string{addrs[slot]}); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(get(front.URL))
	}
	drainCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.Drain(drainCtx); err != nil {
		fmt.Println(err)
		return
	}
	active, _ := p.Active(ctx)
	fmt.Println("drained; active:", active)
	// Output:
	// 503 bluegreen proxy: no slot takes traffic yet (nothing was switched to)
	// 200 release in blue
	// 200 release in green
	// drained; active: green
}

func get(url string) string {
	res, err := http.Get(url)
	if err != nil {
		return err.Error()
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return fmt.Sprintf("%d %s", res.StatusCode, bytes.TrimSpace(body))
}
