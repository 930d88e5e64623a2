package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/hostport"
)

// backend is one generation of routing: the addresses of a slot as one
// Switch gave them, and the requests in flight to them. After a Split,
// canary takes percent of its requests, spread evenly.
type backend struct {
	gen      uint64
	slot     bluegreen.Slot
	proxy    *httputil.ReverseProxy
	inFlight atomic.Int64
	next     atomic.Uint64 // round robin over the addresses

	canary  *backend
	percent uint64
	picked  atomic.Uint64 // requests split so far
}

// pick returns the proxy for the next request: canary's for percent of
// every 100 requests, spread evenly (one in ten for 10%), b's otherwise.
func (b *backend) pick() *httputil.ReverseProxy {
	if b.canary == nil {
		return b.proxy
	}
	n := b.picked.Add(1) - 1
	if (n+1)*b.percent/100 != n*b.percent/100 {
		return b.canary.proxy
	}
	return b.proxy
}

// counts are the running totals of one slot's responses.
type counts struct {
	requests, errors atomic.Int64
}

func newBackend(gen uint64, slot bluegreen.Slot, addrs []string, rt http.RoundTripper, log *slog.Logger, tally *counts) *backend {
	b := &backend{gen: gen, slot: slot}
	targets := make([]*url.URL, len(addrs))
	for i, a := range addrs {
		targets[i] = &url.URL{Scheme: "http", Host: a}
	}
	log = log.With("slot", slot.String(), "generation", gen)
	b.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(targets[(b.next.Add(1)-1)%uint64(len(targets))])
			pr.Out.Host = pr.In.Host // the app sees the name the client asked for
			pr.SetXForwarded()
		},
		Transport:  rt,
		BufferPool: buffers,
		ModifyResponse: func(resp *http.Response) error {
			tally.requests.Add(1)
			if resp.StatusCode >= 500 {
				tally.errors.Add(1)
			}
			return nil
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if !errors.Is(err, context.Canceled) { // the client left: nothing to tell
				log.Warn("backend error", "method", r.Method, "path", r.URL.Path, "backend", r.URL.Host, "err", err)
				tally.requests.Add(1)
				tally.errors.Add(1)
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	return b
}

// bufSize is the size of ReverseProxy's own copy buffers.
const bufSize = 32 << 10

// buffers holds the copy buffers of every backend: without a pool,
// ReverseProxy allocates one per request.
var buffers = &bufferPool{pool: sync.Pool{New: func() any { return new([bufSize]byte) }}}

type bufferPool struct{ pool sync.Pool }

func (b *bufferPool) Get() []byte { return b.pool.Get().(*[bufSize]byte)[:] }

func (b *bufferPool) Put(p []byte) {
	if len(p) == bufSize {
		b.pool.Put((*[bufSize]byte)(p))
	}
}

// checkAddrs accepts host:port addresses with a port from 1 to 65535 and a
// host that fits in a URL as it is.
func checkAddrs(addrs []string) error {
	if len(addrs) == 0 {
		return fmt.Errorf("%w: no addresses", ErrInvalid)
	}
	for _, a := range addrs {
		if _, err := hostport.Parse(a); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	return nil
}
