package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

// clearEnv unsets every variable Config reads, so tests see only what they set.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, v := range Variables() {
		t.Setenv(v.Name, "") // restores the old value after the test
		os.Unsetenv(v.Name)
	}
}

func TestLoadDefaults(t *testing.T) {
	clearEnv(t)
	c, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"warehouse", c.Warehouse, "duckdb"},
		{"duckdb path", c.DuckDBPath, "./turnstile.duckdb"},
		{"turns table", c.TurnsTable, "turns"},
		{"input topic", c.InputTopic, "stage5-complete"},
		{"subscription", c.Subscription, "stage5-complete-turnstile"},
		{"output topic", c.OutputTopic, "stage6-complete"},
		{"dead-letter topic", c.DeadLetterTopic, "stage5-complete-dead-letter"},
		{"dead-letter subscription", c.DeadLetterSubscription, "stage5-complete-dead-letter-replay"},
		{"max delivery attempts", c.MaxDeliveryAttempts, 5},
		{"max concurrent", c.MaxConcurrentPartitions, 2},
		{"http addr", c.HTTPAddr, ":8080"},
		{"shutdown timeout", c.ShutdownTimeout, 25 * time.Second},
		{"daily load jobs", c.BQDailyLoadJobs, 1000},
		{"daily query jobs", c.BQDailyQueryJobs, 2000},
		{"max replays", c.MaxReplays, 3},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestProjectFallbacks(t *testing.T) {
	clearEnv(t)
	t.Setenv("GOOGLE_CLOUD_PROJECT", "from-google")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Project != "from-google" || c.BQProject != "from-google" {
		t.Errorf("Project, BQProject = %q, %q; want both from GOOGLE_CLOUD_PROJECT", c.Project, c.BQProject)
	}
	t.Setenv("TURNSTILE_PROJECT", "mine")
	t.Setenv("TURNSTILE_BQ_PROJECT", "warehouse")
	c, err = Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Project != "mine" || c.BQProject != "warehouse" {
		t.Errorf("Project, BQProject = %q, %q; want mine, warehouse", c.Project, c.BQProject)
	}
}

func TestLoadRejectsBadValues(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string // the error must name this variable
	}{
		{"unknown warehouse", map[string]string{"TURNSTILE_WAREHOUSE": "postgres"}, "TURNSTILE_WAREHOUSE"},
		{"table name with a dot", map[string]string{"TURNSTILE_TURNS_TABLE": "turns; DROP TABLE x"}, "TURNSTILE_TURNS_TABLE"},
		{"table name starting with a digit", map[string]string{"TURNSTILE_MESSAGES_TABLE": "1messages"}, "TURNSTILE_MESSAGES_TABLE"},
		{"same table twice", map[string]string{"TURNSTILE_TURNS_TABLE": "messages"}, "TURNSTILE_*_TABLE"},
		{"bigquery without project", map[string]string{"TURNSTILE_WAREHOUSE": "bigquery", "TURNSTILE_BQ_DATASET": "d"}, "TURNSTILE_BQ_PROJECT"},
		{"bigquery bad dataset", map[string]string{"TURNSTILE_WAREHOUSE": "bigquery", "TURNSTILE_PROJECT": "p", "TURNSTILE_BQ_DATASET": "my-data"}, "TURNSTILE_BQ_DATASET"},
		{"too few delivery attempts", map[string]string{"TURNSTILE_MAX_DELIVERY_ATTEMPTS": "2"}, "TURNSTILE_MAX_DELIVERY_ATTEMPTS"},
		{"zero concurrency", map[string]string{"TURNSTILE_MAX_CONCURRENT_PARTITIONS": "0"}, "TURNSTILE_MAX_CONCURRENT_PARTITIONS"},
		{"bad topic", map[string]string{"TURNSTILE_INPUT_TOPIC": "goog-topic"}, "TURNSTILE_INPUT_TOPIC"},
		{"bad log level", map[string]string{"TURNSTILE_LOG_LEVEL": "loud"}, "TURNSTILE_LOG_LEVEL"},
		{"not a duration", map[string]string{"TURNSTILE_SHUTDOWN_TIMEOUT": "soon"}, "TURNSTILE_SHUTDOWN_TIMEOUT"},
		{"zero load budget", map[string]string{"TURNSTILE_BQ_DAILY_LOAD_JOBS": "0"}, "TURNSTILE_BQ_DAILY_LOAD_JOBS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := Load()
			if err == nil {
				t.Fatalf("Load succeeded, want an error naming %s", tc.wantVar)
			}
			if !strings.Contains(err.Error(), tc.wantVar) {
				t.Errorf("error %q does not name %s", err, tc.wantVar)
			}
		})
	}
}

func TestVariablesAreDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range Variables() {
		if v.Name == "" || v.Description == "" {
			t.Errorf("variable %+v has no name or description", v)
		}
		if seen[v.Name] {
			t.Errorf("variable %s declared twice", v.Name)
		}
		seen[v.Name] = true
	}
}

// TestREADMEListsEveryVariable keeps the README's configuration table true.
func TestREADMEListsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatalf("read README: %v", err)
	}
	for _, v := range Variables() {
		if !strings.Contains(string(readme), "| `"+v.Name+"` |") {
			t.Errorf("README.md's configuration table has no row for %s", v.Name)
		}
	}
}
