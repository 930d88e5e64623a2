// Command testapp is the HTTP service that bluegreen's tests deploy. Its
// environment makes it misbehave on purpose, so tests can prove that a broken
// new version never receives traffic and that draining waits for requests.
//
//	PORT            port to listen on (default 8000)
//	VERSION         served as the body of /, /healthz and /version and in X-Version
//	BOOT_DELAY      Go duration to sleep before listening (running but not ready)
//	FAIL            "" normal, "500" every request answers 500, "crash" exit 1 after BOOT_DELAY,
//	                "verify" only /verify answers 500 (healthy, but fails a check through the proxy)
//	SLOW            Go duration added to each request to /slow
//	IGNORE_SIGTERM  "1": ignore SIGTERM, so only SIGKILL stops it
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
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const shutdownTimeout = 30 * time.Second

func main() {
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
	srv := &http.Server{Handler: handler(version, fail, slow)}
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

func handler(version, fail string, slow time.Duration) http.Handler {
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
	mux.HandleFunc("/verify", func(w http.ResponseWriter, r *http.Request) {
		if fail == "verify" {
			w.Header().Set("X-Version", version)
			http.Error(w, version+": FAIL=verify", http.StatusInternalServerError)
			return
		}
		answer(w)
	})
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
