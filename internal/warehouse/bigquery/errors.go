package bigquery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"google.golang.org/api/googleapi"

	"github.com/turnstile-dev/turnstile/worker"
)

// Error is a failed BigQuery call. It names the operation, the table and the
// partition, carries BigQuery's reason and, when BigQuery's message names
// one, the column at fault, and says whether a retry can help. Permanent
// errors are additionally wrapped with worker.MarkPermanent, so
// worker.ClassOf reports them as permanent; errors.As finds the *Error in
// both cases.
type Error struct {
	Op        string     // what was being done, e.g. "load turns"
	Table     string     // project.dataset.table, with a $YYYYMMDD decorator for loads
	Partition civil.Date // zero when the call concerns no partition
	JobID     string     // the job concerned, when there is one
	Reason    string     // BigQuery's reason, e.g. "quotaExceeded", "notFound", "invalid"
	Column    string     // the column BigQuery's message names, when it names one
	Retryable bool
	Hint      string // what an operator can do about it, when known
	Err       error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("bigquery ")
	b.WriteString(e.Op)
	if e.Table != "" {
		b.WriteString(" on ")
		b.WriteString(e.Table)
	}
	if !e.Partition.IsZero() {
		b.WriteString(" for partition ")
		b.WriteString(e.Partition.String())
	}
	if e.JobID != "" {
		b.WriteString(" (job ")
		b.WriteString(e.JobID)
		b.WriteByte(')')
	}
	b.WriteString(": ")
	if e.Column != "" {
		fmt.Fprintf(&b, "column %s: ", e.Column)
	}
	b.WriteString(e.Err.Error())
	if e.Retryable {
		b.WriteString(" (retryable")
	} else {
		b.WriteString(" (permanent")
	}
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	b.WriteByte(')')
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Hints attached to classified errors.
const (
	hintSetup  = "run `turnstile setup` to create the dataset and tables"
	hintSchema = "compare the table with `turnstile schema --table messages|conversations|turns` and fix the table or the data"
	hintAccess = "grant the service account the BigQuery roles it needs (bigquery.jobUser, bigquery.dataEditor)"
	hintQuota  = "a BigQuery quota or rate limit; a later attempt can succeed"
	hintBudget = "the daily job budget of this process is spent; a later attempt can succeed"
)

// retryableReasons are BigQuery error reasons that a later attempt can get
// past. https://cloud.google.com/bigquery/docs/error-messages
var retryableReasons = map[string]bool{
	"backendError":         true,
	"internalError":        true,
	"jobInternalError":     true,
	"rateLimitExceeded":    true,
	"jobRateLimitExceeded": true,
	"quotaExceeded":        true,
	"timeout":              true,
	"stopped":              true,
	"tableUnavailable":     true,
}

// quotaReasons are the retryable reasons that mean a quota or rate limit.
var quotaReasons = map[string]bool{
	"rateLimitExceeded":    true,
	"jobRateLimitExceeded": true,
	"quotaExceeded":        true,
}

// columnPattern finds the column a BigQuery error message names, as in
// "No such field: foo.", "Field metadata has changed type from STRING to
// JSON", "Field: turn_id; Value: ..." or "Unrecognized name: foo".
var columnPattern = regexp.MustCompile(`(?i)\b(?:field|column|unrecognized name)\b[:\s]+['"\x60]?([A-Za-z_][A-Za-z0-9_]*)`)

// columnIn returns the column that msg names, or "".
func columnIn(msg string) string {
	for _, m := range columnPattern.FindAllStringSubmatch(msg, -1) {
		switch strings.ToLower(m[1]) {
		case "has", "is", "of", "the", "value", "values", "name", "names", "type", "mode", "in", "with":
			continue
		}
		return m[1]
	}
	return ""
}

// jobFailure is the error of a BigQuery job that finished with an error:
// the error result and every error the job reported (one of which often
// names the row and column at fault).
type jobFailure struct {
	result *bigquery.Error
	all    []*bigquery.Error
}

func (f *jobFailure) Error() string {
	var b strings.Builder
	b.WriteString(f.result.Message)
	if f.result.Reason != "" {
		fmt.Fprintf(&b, " [%s]", f.result.Reason)
	}
	for _, e := range f.all {
		if e == nil || e.Message == f.result.Message {
			continue
		}
		b.WriteString("; ")
		b.WriteString(e.Message)
	}
	return b.String()
}

func (f *jobFailure) Unwrap() error { return f.result }

// jobErr returns the failure of a finished job, nil when it succeeded.
func jobErr(s *bigquery.JobStatus) error {
	if s == nil || s.Err() == nil {
		return nil
	}
	f := &jobFailure{all: s.Errors}
	if !errors.As(s.Err(), &f.result) {
		f.result = &bigquery.Error{Message: s.Err().Error()}
	}
	return f
}

// classify wraps err, the failure of op on table for partition day, into an
// *Error, marked permanent when no retry can help. jobID may be "". Quotas,
// rate limits, backend errors, 5xx, 429, timeouts and network errors are
// retryable; a missing table or dataset, a denied access and an invalid
// request or schema are permanent; anything unknown is retryable.
func classify(err error, op, table string, day civil.Date, jobID string) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, Table: table, Partition: day, JobID: jobID, Retryable: true, Err: err}
	var (
		budget *BudgetError
		job    *jobFailure
		api    *googleapi.Error
		netErr net.Error
	)
	switch {
	case errors.As(err, &budget):
		e.Reason, e.Hint = "budgetExhausted", hintBudget
	case errors.Is(err, context.Canceled):
		e.Reason = "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		e.Reason = "timeout"
	case errors.As(err, &job):
		e.Reason = job.result.Reason
		classifyReason(e, job.Error())
	case errors.As(err, &api):
		classifyAPI(e, api)
	case errors.As(err, &netErr):
		e.Reason = "network"
	}
	if e.Retryable {
		return e
	}
	return worker.MarkPermanent(e)
}

// concurrentUpdate reports whether msg is BigQuery's answer to a DML
// transaction or a write that lost a race with another writer of the same
// table, which a later attempt can get past.
func concurrentUpdate(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "concurrent update") || strings.Contains(m, "could not serialize access")
}

// classifyReason sets e's class, column and hint from e.Reason and the
// message of a failed job.
func classifyReason(e *Error, msg string) {
	if concurrentUpdate(msg) {
		e.Retryable = true
		return
	}
	switch e.Reason {
	case "notFound":
		e.Retryable, e.Hint = false, hintSetup
	case "accessDenied", "billingNotEnabled":
		e.Retryable, e.Hint = false, hintAccess
	case "invalid", "invalidQuery", "resourcesExceeded", "responseTooLarge", "billingTierLimitExceeded", "notImplemented":
		e.Retryable = false
		if e.Column = columnIn(msg); e.Column != "" {
			e.Hint = hintSchema
		}
	default:
		e.Retryable = true
		if quotaReasons[e.Reason] {
			e.Hint = hintQuota
		}
	}
}

// classifyAPI sets e's reason, class, column and hint from an HTTP error of
// the BigQuery API.
func classifyAPI(e *Error, api *googleapi.Error) {
	msg := api.Message
	if len(api.Errors) > 0 {
		e.Reason = api.Errors[0].Reason
		if msg == "" {
			msg = api.Errors[0].Message
		}
	}
	switch {
	case retryableReasons[e.Reason], concurrentUpdate(msg):
		e.Retryable = true
		if quotaReasons[e.Reason] {
			e.Hint = hintQuota
		}
	case api.Code == http.StatusTooManyRequests:
		e.Retryable, e.Hint = true, hintQuota
	case api.Code >= 500, api.Code == http.StatusUnauthorized, api.Code == http.StatusRequestTimeout,
		api.Code == http.StatusConflict:
		e.Retryable = true
	case api.Code == http.StatusNotFound:
		e.Retryable, e.Hint = false, hintSetup
	case api.Code == http.StatusForbidden:
		e.Retryable, e.Hint = false, hintAccess
	case api.Code >= 400:
		e.Retryable = false
		if e.Column = columnIn(msg); e.Column != "" {
			e.Hint = hintSchema
		}
	}
	if e.Reason == "" {
		e.Reason = strings.ToLower(strings.ReplaceAll(http.StatusText(api.Code), " ", "_"))
	}
}
