package health

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		ready    error
		method   string
		path     string
		wantCode int
		wantBody string
	}{
		{name: "alive while not ready", ready: errors.New("not receiving"), method: "GET", path: "/healthz", wantCode: 200, wantBody: "ok"},
		{name: "ready", method: "GET", path: "/readyz", wantCode: 200, wantBody: "ready"},
		{name: "not ready", ready: errors.New("worker is not receiving messages"), method: "GET", path: "/readyz", wantCode: 503, wantBody: "not ready: worker is not receiving messages"},
		{name: "unknown path", method: "GET", path: "/metrics", wantCode: 404},
		{name: "wrong method", method: "POST", path: "/readyz", wantCode: 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := Handler(func(ctx context.Context) error {
				if _, ok := ctx.Deadline(); !ok {
					t.Error("readiness check got a context without deadline")
				}
				return tc.ready
			})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.wantCode {
				t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, rec.Code, tc.wantCode)
			}
			if tc.wantBody != "" && strings.TrimSpace(rec.Body.String()) != tc.wantBody {
				t.Errorf("%s %s: body %q, want %q", tc.method, tc.path, rec.Body.String(), tc.wantBody)
			}
		})
	}
}
