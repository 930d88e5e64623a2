package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	for _, tc := range []struct {
		fail, path string
		slow       time.Duration
		wantCode   int
		wantBody   string
	}{
		{path: "/", wantCode: 200, wantBody: "v1\n"},
		{path: "/healthz", wantCode: 200, wantBody: "v1\n"},
		{path: "/version", wantCode: 200, wantBody: "v1\n"},
		{path: "/slow", slow: 50 * time.Millisecond, wantCode: 200, wantBody: "v1\n"},
		{path: "/nope", wantCode: 404, wantBody: "404 page not found\n"},
		{fail: "500", path: "/healthz", wantCode: 500, wantBody: "v1: FAIL=500\n"},
		{fail: "500", path: "/nope", wantCode: 500, wantBody: "v1: FAIL=500\n"},
		{path: "/verify", wantCode: 200, wantBody: "v1\n"},
		{path: "/host", wantCode: 200, wantBody: "v1 host1\n"},
		{fail: "verify", path: "/verify", wantCode: 500, wantBody: "v1: FAIL=verify\n"},
		{fail: "verify", path: "/healthz", wantCode: 200, wantBody: "v1\n"},
	} {
		rec := httptest.NewRecorder()
		start := time.Now()
		handler("v1", "host1", tc.fail, tc.slow, "").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != tc.wantCode || rec.Body.String() != tc.wantBody || rec.Header().Get("X-Version") != "v1" && tc.wantCode != 404 {
			t.Errorf("FAIL=%q GET %s = %d %q (X-Version %q), want %d %q", tc.fail, tc.path, rec.Code, rec.Body, rec.Header().Get("X-Version"), tc.wantCode, tc.wantBody)
		}
		if took := time.Since(start); took < tc.slow {
			t.Errorf("GET %s took %v, want at least SLOW=%v", tc.path, took, tc.slow)
		}
	}
}

func TestKV(t *testing.T) {
	kv := httptest.NewServer(kvHandler(t.TempDir()))
	defer kv.Close()
	app := httptest.NewServer(handler("v1", "host1", "", 0, kv.URL))
	defer app.Close()
	req, _ := http.NewRequest(http.MethodPut, app.URL+"/kv/k1", strings.NewReader("hello"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT through the app: %v %v", resp, err)
	}
	resp, err = http.Get(app.URL + "/kv/k1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hello" {
		t.Errorf("GET through the app = %d %q", resp.StatusCode, b)
	}
	if code := probe(kv.URL + "/healthz"); code != 0 {
		t.Errorf("probe of a healthy server = %d", code)
	}
	if code := probe(kv.URL + "/nope"); code != 1 {
		t.Errorf("probe of a 404 = %d", code)
	}
}

func TestConns(t *testing.T) {
	var conns atomic.Int64
	conns.Store(7)
	rec := httptest.NewRecorder()
	withConns(http.NotFoundHandler(), &conns).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/conns", nil))
	if rec.Code != 200 || rec.Body.String() != "7\n" {
		t.Errorf("GET /conns = %d %q, want 200 \"7\\n\"", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	withConns(http.NotFoundHandler(), &conns).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/other", nil))
	if rec.Code != 404 {
		t.Errorf("GET /other = %d, want the handler's 404", rec.Code)
	}
}

func TestFailRate(t *testing.T) {
	h := withFailRate(handler("v1", "host", "", 0, ""), "v1", 20)
	count := func(path string, n int) (failed int) {
		for range n {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if rec.Code == http.StatusInternalServerError {
				failed++
			}
		}
		return failed
	}
	if got := count("/version", 100); got != 20 {
		t.Errorf("FAIL_RATE=20: %d of 100 failed, want 20", got)
	}
	if got := count("/healthz", 100); got != 0 {
		t.Errorf("/healthz failed %d times, want never", got)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPut, "/fail-rate", strings.NewReader("0")))
	if rec.Code != http.StatusOK {
		t.Fatalf("PUT /fail-rate: %d", rec.Code)
	}
	if got := count("/version", 100); got != 0 {
		t.Errorf("after PUT /fail-rate 0: %d of 100 failed", got)
	}
}
