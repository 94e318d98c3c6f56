package bigquery

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"github.com/google/go-cmp/cmp"
	bq "google.golang.org/api/bigquery/v2"

	"github.com/turnstile-dev/turnstile/worker"
)

func TestSpentQueryBudgetStartsNoJob(t *testing.T) {
	f := newFakeBQ(t)
	f.query = inputOutcome
	clk := &clock{t: time.Date(2026, 1, 22, 23, 59, 0, 0, time.UTC)}
	w := f.newWarehouse(t, func(o *Options) { o.DailyQueryJobs, o.Now = 1, clk.now })

	if _, err := w.CheckInput(context.Background(), testDay); err != nil {
		t.Fatalf("first CheckInput: %v", err)
	}
	_, err := w.CheckInput(context.Background(), testDay)
	var be *BudgetError
	if !errors.As(err, &be) {
		t.Fatalf("second CheckInput: error %v, want a *BudgetError", err)
	}
	want := BudgetError{Kind: QueryJobs, Limit: 1, Used: 1, Day: testDay, ResetsAt: time.Date(2026, 1, 23, 0, 0, 0, 0, time.UTC)}
	if diff := cmp.Diff(want, *be); diff != "" {
		t.Errorf("BudgetError (-want +got):\n%s", diff)
	}
	if worker.ClassOf(err) != worker.Retryable {
		t.Errorf("class %s, want retryable", worker.ClassOf(err))
	}
	for _, s := range []string{"query job budget", "1 of 1", "2026-01-23T00:00:00Z", "check input", "2026-01-22"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	if n := len(f.queryInserts()); n != 1 {
		t.Errorf("query jobs inserted = %d, want 1: a spent budget must start no job", n)
	}

	clk.add(time.Minute) // past UTC midnight
	if _, err := w.CheckInput(context.Background(), testDay); err != nil {
		t.Errorf("CheckInput after midnight: %v", err)
	}
	if got := w.Budget(); got.Day != (civil.Date{Year: 2026, Month: 1, Day: 23}) || got.QueryJobs != 1 {
		t.Errorf("budget after midnight = %+v, want day 2026-01-23 with 1 query job", got)
	}
}

func TestSpentLoadBudgetStartsNoJobAndProducesNothing(t *testing.T) {
	f := newFakeBQ(t)
	f.query = replaceHook(2, 0)
	w := f.newWarehouse(t, func(o *Options) { o.DailyLoadJobs = 1 })
	if _, err := w.ReplaceTurns(context.Background(), newReplacement(testRun, sampleTurns()).Replacement); err != nil {
		t.Fatalf("first ReplaceTurns: %v", err)
	}
	r := newReplacement("run-other", sampleTurns())
	_, err := w.ReplaceTurns(context.Background(), r.Replacement)
	var be *BudgetError
	if !errors.As(err, &be) || be.Kind != LoadJobs || be.Limit != 1 {
		t.Fatalf("error %v, want the load budget of 1 spent", err)
	}
	if !strings.Contains(err.Error(), "load job budget") || !strings.Contains(err.Error(), "resets at 2026-01-23T00:00:00Z") {
		t.Errorf("error %q does not name the load budget and its reset", err)
	}
	if r.produced != 0 {
		t.Errorf("Produce ran %d times with the budget spent, want 0", r.produced)
	}
	if n := len(f.loadInserts()); n != 1 {
		t.Errorf("load jobs inserted = %d, want 1", n)
	}
}

func TestBudgetIsSafeForConcurrentUse(t *testing.T) {
	b := &budget{now: func() time.Time { return testNow }, loadLimit: 10, queryLimit: 50}
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := map[JobKind]int{}
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, k := range []JobKind{LoadJobs, QueryJobs} {
				if b.take(k) == nil {
					mu.Lock()
					granted[k]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if diff := cmp.Diff(map[JobKind]int{LoadJobs: 10, QueryJobs: 50}, granted); diff != "" {
		t.Errorf("jobs granted (-want +got):\n%s", diff)
	}
}

func TestSeedBudgetFromInformationSchema(t *testing.T) {
	f := newFakeBQ(t)
	var seen *bq.JobConfigurationQuery
	f.query = func(q *bq.JobConfigurationQuery) queryOutcome {
		seen = q
		return queryOutcome{
			Schema: fields("job_type:STRING", "jobs:INTEGER"),
			Rows:   []*bq.TableRow{cells("LOAD", 7), cells("QUERY", 19)},
		}
	}
	w := f.newWarehouse(t, func(o *Options) { o.SeedBudgetFromJobs, o.Location = true, "europe-west1" })

	want := BudgetStatus{Day: testDay, LoadJobs: 7, QueryJobs: 19, LoadLimit: DefaultDailyLoadJobs, QueryLimit: DefaultDailyQueryJobs}
	if diff := cmp.Diff(want, w.Budget()); diff != "" {
		t.Errorf("budget (-want +got):\n%s", diff)
	}
	if seen == nil {
		t.Fatal("no seed query ran")
	}
	for _, s := range []string{
		"`proj`.`region-europe-west1`.INFORMATION_SCHEMA.JOBS_BY_PROJECT",
		"creation_time >= @since",
		"l.key = 'app' AND l.value = 'turnstile'",
		"job_type IN ('LOAD', 'QUERY')",
	} {
		if !strings.Contains(seen.Query, s) {
			t.Errorf("seed query lacks %q:\n%s", s, seen.Query)
		}
	}
	if diff := cmp.Diff(map[string]string{"since": "TIMESTAMP=2026-01-22 00:00:00+00:00"}, params(seen)); diff != "" {
		t.Errorf("seed parameters (-want +got):\n%s", diff)
	}
}

func TestSeedBudgetNeedsLocation(t *testing.T) {
	f := newFakeBQ(t)
	opts := f.testOptions()
	opts.Location, opts.SeedBudgetFromJobs = "", true
	if _, err := New(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "location") {
		t.Errorf("New error = %v, want one about the location", err)
	}
	if n := len(f.inserts()); n != 0 {
		t.Errorf("jobs inserted = %d, want 0", n)
	}
}
