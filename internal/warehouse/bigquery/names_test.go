package bigquery

import (
	"regexp"
	"strings"
	"testing"

	"cloud.google.com/go/civil"
)

var jobIDCharset = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func TestLoadJobID(t *testing.T) {
	day := civil.Date{Year: 2026, Month: 1, Day: 22}
	tests := []struct {
		name       string
		run        string
		wantPrefix string
	}{
		{"plain run id", "run-20260122-a1", "turnstile_load_run-20260122-a1_20260122_"},
		{"characters outside the job id alphabet", "stage5/run 7:ü", "turnstile_load_stage5_run_7___20260122_"},
		{"long run id is cut", strings.Repeat("r", 300), "turnstile_load_" + strings.Repeat("r", maxRunIDInJobID) + "_20260122_"},
		{"empty run id", "", "turnstile_load__20260122_"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := loadJobID(loadJobBase(tc.run, day, "p.d.turns"), 3)
			if !jobIDCharset.MatchString(id) || len(id) > 1024 {
				t.Errorf("job id %q is not in BigQuery's job id alphabet", id)
			}
			if !strings.HasPrefix(id, tc.wantPrefix) || !strings.HasSuffix(id, "_a3") {
				t.Errorf("job id %q, want prefix %q and suffix _a3", id, tc.wantPrefix)
			}
			if again := loadJobID(loadJobBase(tc.run, day, "p.d.turns"), 3); again != id {
				t.Errorf("job id not deterministic: %q then %q", id, again)
			}
		})
	}

	base := loadJobBase("run-1", day, "p.d.turns")
	for name, other := range map[string]string{
		"other run":                   loadJobBase("run-2", day, "p.d.turns"),
		"other partition":             loadJobBase("run-1", day.AddDays(1), "p.d.turns"),
		"other table":                 loadJobBase("run-1", day, "p.d2.turns"),
		"run ids that sanitise alike": loadJobBase("run/1", day, "p.d.turns"),
	} {
		if other == base {
			t.Errorf("%s: same job id %q", name, other)
		}
	}
	if a, b := loadJobBase(strings.Repeat("x", 64)+"1", day, "t"), loadJobBase(strings.Repeat("x", 64)+"2", day, "t"); a == b {
		t.Errorf("run ids differing after the cut share job id %q", a)
	}
}
