package bigquery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"cloud.google.com/go/civil"
	"github.com/google/go-cmp/cmp"
	bq "google.golang.org/api/bigquery/v2"

	"github.com/turnstile-dev/turnstile/worker"
)

// classified is what a test checks of a classified error.
type classified struct {
	Class  worker.Class
	Reason string
	Column string
	Hint   string
}

func classifiedOf(tb testing.TB, err error) classified {
	tb.Helper()
	var e *Error
	if !errors.As(err, &e) {
		tb.Fatalf("error %v (%T) has no *Error", err, err)
	}
	return classified{Class: worker.ClassOf(err), Reason: e.Reason, Column: e.Column, Hint: e.Hint}
}

func TestLoadErrorsAreClassified(t *testing.T) {
	tests := []struct {
		name   string
		insert *apiError      // jobs.insert answers this
		job    *bq.ErrorProto // or the load job finishes with this
		want   classified
	}{
		{
			name:   "403 rateLimitExceeded",
			insert: &apiError{403, "rateLimitExceeded", "Exceeded rate limits: too many table update operations for this table"},
			want:   classified{Class: worker.Retryable, Reason: "rateLimitExceeded", Hint: hintQuota},
		},
		{
			name:   "403 quotaExceeded",
			insert: &apiError{403, "quotaExceeded", "Quota exceeded: Your table exceeded quota for imports or query appends per table"},
			want:   classified{Class: worker.Retryable, Reason: "quotaExceeded", Hint: hintQuota},
		},
		{
			name:   "429",
			insert: &apiError{429, "", "Too many requests"},
			want:   classified{Class: worker.Retryable, Reason: "too_many_requests", Hint: hintQuota},
		},
		{
			name:   "500 backendError",
			insert: &apiError{500, "backendError", "Backend error. Job aborted."},
			want:   classified{Class: worker.Retryable, Reason: "backendError"},
		},
		{
			name:   "503",
			insert: &apiError{503, "", "Service unavailable"},
			want:   classified{Class: worker.Retryable, Reason: "service_unavailable"},
		},
		{
			name:   "404 notFound",
			insert: &apiError{404, "notFound", "Not found: Table proj:ds.turns"},
			want:   classified{Class: worker.Permanent, Reason: "notFound", Hint: hintSetup},
		},
		{
			name:   "403 accessDenied",
			insert: &apiError{403, "accessDenied", "Access Denied: Table proj:ds.turns: Permission bigquery.tables.updateData denied"},
			want:   classified{Class: worker.Permanent, Reason: "accessDenied", Hint: hintAccess},
		},
		{
			name:   "400 invalid schema",
			insert: &apiError{400, "invalid", "Provided Schema does not match Table proj:ds.turns$20260122. Field metadata has changed type from STRING to JSON"},
			want:   classified{Class: worker.Permanent, Reason: "invalid", Column: "metadata", Hint: hintSchema},
		},
		{
			name: "job failed: invalid row",
			job:  &bq.ErrorProto{Reason: "invalid", Message: "Error while reading data, error message: JSON parsing error in row starting at position 0: No such field: user_txt."},
			want: classified{Class: worker.Permanent, Reason: "invalid", Column: "user_txt", Hint: hintSchema},
		},
		{
			name: "job failed: backendError",
			job:  &bq.ErrorProto{Reason: "backendError", Message: "Backend error"},
			want: classified{Class: worker.Retryable, Reason: "backendError"},
		},
		{
			name: "job failed: concurrent update",
			job:  &bq.ErrorProto{Reason: "invalidQuery", Message: "Could not serialize access to table proj:ds.turns due to concurrent update"},
			want: classified{Class: worker.Retryable, Reason: "invalidQuery"},
		},
		{
			name: "job failed: quotaExceeded",
			job:  &bq.ErrorProto{Reason: "quotaExceeded", Message: "Quota exceeded: Your table exceeded quota for Number of partition modifications"},
			want: classified{Class: worker.Retryable, Reason: "quotaExceeded", Hint: hintQuota},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeBQ(t)
			f.query = replaceHook(2, 0)
			f.insertError = func(job *bq.Job) *apiError {
				if job.Configuration.Load != nil {
					return tc.insert
				}
				return nil
			}
			f.load = func(*bq.Job, []byte) *bq.ErrorProto { return tc.job }
			w := f.newWarehouse(t, nil)
			_, err := w.ReplaceTurns(context.Background(), newReplacement(testRun, sampleTurns()).Replacement)
			if err == nil {
				t.Fatal("ReplaceTurns succeeded, want an error")
			}
			if diff := cmp.Diff(tc.want, classifiedOf(t, err)); diff != "" {
				t.Errorf("classification (-want +got):\n%s", diff)
			}
			for _, s := range []string{"load turns", "proj.ds.turns$20260122", "partition 2026-01-22", "turnstile_load_"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if n := len(f.queryInserts()); n != 0 {
				t.Errorf("%d queries after a failed load, want none", n)
			}
		})
	}
}

func TestQueryInsertQuotaIsRetryable(t *testing.T) {
	f := newFakeBQ(t)
	f.insertError = func(*bq.Job) *apiError {
		return &apiError{403, "quotaExceeded", "Quota exceeded: Your project exceeded quota for free query bytes scanned"}
	}
	w := f.newWarehouse(t, nil)
	_, err := w.CheckInput(context.Background(), testDay)
	want := classified{Class: worker.Retryable, Reason: "quotaExceeded", Hint: hintQuota}
	if diff := cmp.Diff(want, classifiedOf(t, err)); diff != "" {
		t.Errorf("classification (-want +got):\n%s", diff)
	}
}

func TestClassifyOtherErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want classified
	}{
		{"deadline", fmt.Errorf("wait: %w", context.DeadlineExceeded), classified{Class: worker.Retryable, Reason: "timeout"}},
		{"canceled", context.Canceled, classified{Class: worker.Retryable, Reason: "canceled"}},
		{"budget", &BudgetError{Kind: LoadJobs}, classified{Class: worker.Retryable, Reason: "budgetExhausted", Hint: hintBudget}},
		{"unknown", errors.New("something odd"), classified{Class: worker.Retryable}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := classify(tc.err, "read partition", "proj.ds.messages", testDay, "")
			if diff := cmp.Diff(tc.want, classifiedOf(t, err)); diff != "" {
				t.Errorf("classification (-want +got):\n%s", diff)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("classified error does not wrap the cause")
			}
		})
	}
}

func TestColumnIn(t *testing.T) {
	tests := []struct{ msg, want string }{
		{"Provided Schema does not match Table p:d.t. Field ingestion_date has changed type from STRING to DATE", "ingestion_date"},
		{"JSON parsing error in row starting at position 0: No such field: foo.", "foo"},
		{"Could not convert value to string. Field: turn_id; Value: 1", "turn_id"},
		{"Unrecognized name: parent_idd at [3:7]", "parent_idd"},
		{"Query column 2 has type STRING which cannot be inserted into column seq, which has type INT64", "seq"},
		{"Backend error", ""},
	}
	for _, tc := range tests {
		if got := columnIn(tc.msg); got != tc.want {
			t.Errorf("columnIn(%q) = %q, want %q", tc.msg, got, tc.want)
		}
	}
}

func TestErrorMessageNamesEverything(t *testing.T) {
	e := &Error{Op: "load turns", Table: "p.d.turns$20260122", Partition: civil.Date{Year: 2026, Month: 1, Day: 22},
		JobID: "j1", Reason: "invalid", Column: "metadata", Hint: hintSchema, Err: errors.New("bad value")}
	want := "bigquery load turns on p.d.turns$20260122 for partition 2026-01-22 (job j1): column metadata: bad value (permanent; " + hintSchema + ")"
	if got := e.Error(); got != want {
		t.Errorf("Error() =\n%q, want\n%q", got, want)
	}
}
