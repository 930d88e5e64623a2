// Command testapp is the HTTP service that bluegreen's tests deploy. Its
// environment makes it misbehave on purpose, so tests can prove that a broken
// new version never receives traffic and that draining waits for requests.
//
//	PORT            port to listen on (default 8000)
//	VERSION         served as the body of /, /healthz and /version and in X-Version
//	BOOT_DELAY      Go duration to sleep before listening (running but not ready)
//	FAIL            "" normal, "500" every request answers 500, "crash" exit 1 after BOOT_DELAY,
//	                "verify" only /verify answers 500 (healthy, but fails a check through the proxy)
//	FAIL_ONE        a directory shared by the replicas of a release: the first replica to
//	                create FAIL_ONE/failing behaves as FAIL says, the others normally
//	FAIL_RATE       a percent (20): that share of requests, /healthz excepted, answers 500,
//	                spread evenly (every fifth for 20); PUT /fail-rate with a percent as its
//	                body changes it while the app runs (a release that breaks later)
//	SLOW            Go duration added to each request to /slow
//	IGNORE_SIGTERM  "1": ignore SIGTERM, so only SIGKILL stops it
//	MODE            "kv": a small key-value store instead (GET/PUT /kv/{key}, files in DATA_DIR)
//	DATA_DIR        where MODE=kv keeps its data (default /data)
//	KV_URL          the app forwards /kv/{key} to this key-value store ("http://kv:8000")
//
// /conns answers with the number of TCP connections accepted so far: a
// proxy that keeps its connections alive opens few.
//
// "app task" is a one-off job, as a release task: it prints what it does,
// PUTs VERSION as the key TASK_KEY of the key-value store at KV_URL when
// both are set, and exits with the code TASK_EXIT (default 0).
//
// "app probe URL" GETs URL and exits 0 on a 2xx answer, 1 otherwise: a
// healthcheck command for an image that has no shell and no curl.
//
// On SIGTERM or SIGINT it stops accepting connections, finishes the requests
// in flight (at most 30s) and exits 0.
//
// It uses the standard library only: internal/testutil embeds this file and
// builds it into a FROM scratch image.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

const shutdownTimeout = 30 * time.Second

func main() {
	if len(os.Args) == 3 && os.Args[1] == "probe" {
		os.Exit(probe(os.Args[2]))
	}
	if len(os.Args) == 2 && os.Args[1] == "task" {
		os.Exit(task())
	}
	logger := log.New(os.Stdout, "testapp: ", log.LstdFlags|log.Lmicroseconds)
	if err := run(logger); err != nil {
		logger.Print(err)
		os.Exit(1)
	}
}

func run(logger *log.Logger) error {
	version := os.Getenv("VERSION")
	port := envOr("PORT", "8000")
	bootDelay, err := envDuration("BOOT_DELAY")
	if err != nil {
		return err
	}
	slow, err := envDuration("SLOW")
	if err != nil {
		return err
	}
	fail := os.Getenv("FAIL")
	if dir := os.Getenv("FAIL_ONE"); dir != "" {
		f, err := os.OpenFile(filepath.Join(dir, "failing"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			fail = "" // another replica fails
		} else {
			f.Close()
			logger.Printf("version=%q FAIL_ONE: this replica fails (FAIL=%q)", version, fail)
		}
	}
	hostname, _ := os.Hostname()

	// Decide about SIGTERM before the boot delay: a container stopped while
	// booting must behave the same way as one stopped while serving.
	stop := make(chan os.Signal, 1)
	if os.Getenv("IGNORE_SIGTERM") == "1" {
		// As PID 1 an unhandled SIGTERM would still make the Go runtime exit,
		// so ignore it explicitly.
		signal.Ignore(syscall.SIGTERM)
		signal.Notify(stop, syscall.SIGINT)
	} else {
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	}

	select {
	case <-time.After(bootDelay):
	case sig := <-stop:
		logger.Printf("version=%q got %v while booting, exiting", version, sig)
		return nil
	}
	if fail == "crash" {
		return fmt.Errorf("version=%q FAIL=crash: exiting without listening", version)
	}

	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		return err
	}
	h := handler(version, hostname, fail, slow, os.Getenv("KV_URL"))
	if os.Getenv("MODE") == "kv" {
		h = kvHandler(envOr("DATA_DIR", "/data"))
	}
	rate, err := strconv.Atoi(envOr("FAIL_RATE", "0"))
	if err != nil || rate < 0 || rate > 100 {
		return fmt.Errorf("FAIL_RATE=%q: want a percent from 0 to 100", os.Getenv("FAIL_RATE"))
	}
	h = withFailRate(h, version, int64(rate))
	var conns atomic.Int64
	srv := &http.Server{
		Handler: withConns(h, &conns),
		ConnState: func(_ net.Conn, state http.ConnState) {
			if state == http.StateNew {
				conns.Add(1)
			}
		},
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Printf("version=%q listening on %s (fail=%q slow=%v)", version, ln.Addr(), fail, slow)

	select {
	case err := <-served:
		return err
	case sig := <-stop:
		logger.Printf("version=%q got %v, shutting down (in-flight requests finish, at most %v)", version, sig, shutdownTimeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// withFailRate answers 500 to rate percent of the requests, /healthz
// excepted, spread evenly; PUT /fail-rate sets the rate.
func withFailRate(h http.Handler, version string, rate int64) http.Handler {
	var pct, n atomic.Int64
	pct.Store(rate)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail-rate" && r.Method == http.MethodPut {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 16))
			v, err := strconv.Atoi(strings.TrimSpace(string(body)))
			if err != nil || v < 0 || v > 100 {
				http.Error(w, "want a percent from 0 to 100", http.StatusBadRequest)
				return
			}
			pct.Store(int64(v))
			fmt.Fprintf(w, "fail rate %d%%\n", v)
			return
		}
		if p := pct.Load(); p > 0 && r.URL.Path != "/healthz" {
			i := n.Add(1)
			if i*p/100 != (i-1)*p/100 {
				w.Header().Set("X-Version", version)
				http.Error(w, version+": FAIL_RATE", http.StatusInternalServerError)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// withConns answers /conns with the number of connections accepted so
// far, and passes every other request to h.
func withConns(h http.Handler, conns *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/conns" {
			fmt.Fprintln(w, conns.Load())
			return
		}
		h.ServeHTTP(w, r)
	})
}

func handler(version, hostname, fail string, slow time.Duration, kvURL string) http.Handler {
	answer := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Version", version)
		fmt.Fprintln(w, version)
	}
	if fail == "500" {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Version", version)
			http.Error(w, version+": FAIL=500", http.StatusInternalServerError)
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) { answer(w) })
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { answer(w) })
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) { answer(w) })
	// /host tells which container answered: replicas of a slot differ.
	mux.HandleFunc("/host", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Version", version)
		fmt.Fprintln(w, version, hostname)
	})
	mux.HandleFunc("/verify", func(w http.ResponseWriter, r *http.Request) {
		if fail == "verify" {
			w.Header().Set("X-Version", version)
			http.Error(w, version+": FAIL=verify", http.StatusInternalServerError)
			return
		}
		answer(w)
	})
	if kvURL != "" {
		mux.HandleFunc("/kv/{key}", func(w http.ResponseWriter, r *http.Request) {
			forward(w, r, kvURL+"/kv/"+r.PathValue("key"))
		})
	}
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(slow):
		case <-r.Context().Done():
			return
		}
		answer(w)
	})
	return mux
}

// forward sends r's method and body to url and copies the answer back.
func forward(w http.ResponseWriter, r *http.Request, url string) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, url, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// task runs as a release task and returns its exit code.
func task() int {
	version, key, kvURL := os.Getenv("VERSION"), os.Getenv("TASK_KEY"), os.Getenv("KV_URL")
	fmt.Printf("task: version %q starts\n", version)
	if key != "" && kvURL != "" {
		req, err := http.NewRequest(http.MethodPut, kvURL+"/kv/"+key, strings.NewReader(version))
		if err != nil {
			fmt.Println("task:", err)
			return 1
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println("task:", err)
			return 1
		}
		resp.Body.Close()
		fmt.Printf("task: %s = %q: status %d\n", key, version, resp.StatusCode)
	}
	code, err := strconv.Atoi(envOr("TASK_EXIT", "0"))
	if err != nil {
		fmt.Println("task: TASK_EXIT:", err)
		return 1
	}
	fmt.Printf("task: exits with code %d\n", code)
	return code
}

// kvHandler keeps each key in a file of dir.
func kvHandler(dir string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "kv") })
	mux.HandleFunc("GET /kv/{key}", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(filepath.Join(dir, filepath.Base(r.PathValue("key"))))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Write(b)
	})
	mux.HandleFunc("PUT /kv/{key}", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, filepath.Base(r.PathValue("key"))), b, 0o644)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func probe(url string) int {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return 1
	}
	return 0
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envDuration(key string) (time.Duration, error) {
	v := os.Getenv(key)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	return d, nil
}
