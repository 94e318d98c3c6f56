package bigquery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"google.golang.org/api/iterator"
)

// JobKind names a daily job budget.
type JobKind string

// The budgeted kinds of BigQuery jobs.
const (
	LoadJobs  JobKind = "load"
	QueryJobs JobKind = "query"
)

// BudgetError reports that a daily job budget is spent. No job was started.
// It is retryable: the budget resets at ResetsAt, the next UTC midnight.
type BudgetError struct {
	Kind     JobKind
	Limit    int
	Used     int
	Day      civil.Date // the UTC day the budget belongs to
	ResetsAt time.Time
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("daily BigQuery %s job budget spent: %d of %d %s jobs started on %s (UTC); it resets at %s",
		e.Kind, e.Used, e.Limit, e.Kind, e.Day, e.ResetsAt.Format(time.RFC3339))
}

// BudgetStatus is a snapshot of the daily budgets.
type BudgetStatus struct {
	Day        civil.Date // the UTC day counted
	LoadJobs   int        // load jobs started on Day
	QueryJobs  int        // query jobs started on Day
	LoadLimit  int
	QueryLimit int
}

// budget counts the jobs started per UTC day and refuses a job once the
// day's limit for its kind is reached. It is safe for concurrent use.
type budget struct {
	now        func() time.Time
	loadLimit  int
	queryLimit int

	mu    sync.Mutex
	day   civil.Date
	load  int
	query int
}

// rollover resets the counts when the UTC day changed. b.mu must be held.
func (b *budget) rollover() {
	today := civil.DateOf(b.now().UTC())
	if today != b.day {
		b.day, b.load, b.query = today, 0, 0
	}
}

// spent returns the *BudgetError for kind k when its budget for the day
// is used up, nil otherwise. b.mu must be held and rollover done.
func (b *budget) spent(k JobKind) *BudgetError {
	used, limit := b.query, b.queryLimit
	if k == LoadJobs {
		used, limit = b.load, b.loadLimit
	}
	if used < limit {
		return nil
	}
	return &BudgetError{Kind: k, Limit: limit, Used: used, Day: b.day, ResetsAt: b.day.AddDays(1).In(time.UTC)}
}

// take counts one job of kind k, or returns a *BudgetError without counting
// when the day's budget for k is spent.
func (b *budget) take(k JobKind) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rollover()
	if e := b.spent(k); e != nil {
		return e
	}
	if k == LoadJobs {
		b.load++
	} else {
		b.query++
	}
	return nil
}

// check returns the *BudgetError that take would return for k, without
// counting anything.
func (b *budget) check(k JobKind) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rollover()
	if e := b.spent(k); e != nil {
		return e
	}
	return nil
}

// seed raises the counts of day to at least load and query (jobs started
// before this process). It ignores a day that is not today.
func (b *budget) seed(day civil.Date, load, query int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rollover()
	if day != b.day {
		return
	}
	b.load = max(b.load, load)
	b.query = max(b.query, query)
}

func (b *budget) status() BudgetStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rollover()
	return BudgetStatus{Day: b.day, LoadJobs: b.load, QueryJobs: b.query, LoadLimit: b.loadLimit, QueryLimit: b.queryLimit}
}

// SeedBudget raises today's counts to the load and query jobs labelled
// app=turnstile that the project started since the last UTC midnight, from
// INFORMATION_SCHEMA.JOBS_BY_PROJECT of Options.Location (child jobs of
// scripts and dry runs excluded). It is one query job, counted itself, and
// needs the bigquery.jobs.listAll permission. New calls it when
// Options.SeedBudgetFromJobs is set.
func (w *Warehouse) SeedBudget(ctx context.Context) error {
	const op = "seed job budget"
	region, err := regionQualifier(w.opts.Location)
	if err != nil {
		return fmt.Errorf("bigquery %s: %w", op, err)
	}
	table := fmt.Sprintf("`%s`.`%s`.INFORMATION_SCHEMA.JOBS_BY_PROJECT", w.opts.Project, region)
	sql := fmt.Sprintf(`SELECT job_type, COUNT(*) AS jobs
FROM %s
WHERE creation_time >= @since
  AND job_type IN ('LOAD', 'QUERY')
  AND parent_job_id IS NULL
  AND EXISTS (SELECT 1 FROM UNNEST(labels) AS l WHERE l.key = 'app' AND l.value = 'turnstile')
GROUP BY job_type`, table)
	day := civil.DateOf(w.opts.Now().UTC())
	job, _, err := w.query(ctx, "seed_budget", civil.Date{}, sql,
		bigquery.QueryParameter{Name: "since", Value: day.In(time.UTC)})
	if err != nil {
		return classify(err, op, table, civil.Date{}, jobIDOf(job))
	}
	it, err := job.Read(ctx)
	if err != nil {
		return classify(err, op, table, civil.Date{}, job.ID())
	}
	var load, query int
	var row []bigquery.Value
	for {
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return classify(err, op, table, civil.Date{}, job.ID())
		}
		typ, _ := row[0].(string)
		n, _ := row[1].(int64)
		switch typ {
		case "LOAD":
			load = int(n)
		case "QUERY":
			query = int(n)
		}
	}
	w.budget.seed(day, load, query)
	w.logger.Info("seeded BigQuery job budget from INFORMATION_SCHEMA", "day", day.String(), "load_jobs", load, "query_jobs", query)
	return nil
}

// regionQualifier is the INFORMATION_SCHEMA qualifier of a location:
// region-us for US, region-europe-west1 for europe-west1.
func regionQualifier(location string) (string, error) {
	if location == "" {
		return "", errors.New("the job budget can only be seeded with a location")
	}
	for _, r := range location {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return "", fmt.Errorf("location %q is not a BigQuery location", location)
		}
	}
	return "region-" + strings.ToLower(location), nil
}
