// Package health serves the liveness and readiness probes of a long-running
// turnstile process.
package health

import (
	"context"
	"net/http"
	"time"
)

// checkTimeout bounds one readiness check.
const checkTimeout = 5 * time.Second

// Handler serves GET /healthz, which answers 200 "ok" while the process
// can serve HTTP at all, and GET /readyz, which answers 200 "ready" when
// ready returns nil and 503 with the error text otherwise. ready gets the
// request's context, bounded to 5 seconds; it must be safe for concurrent
// use. Other paths are 404.
func Handler(ready func(ctx context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}
