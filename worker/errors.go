package worker

import (
	"errors"
	"fmt"

	"cloud.google.com/go/civil"
)

// Step names a step of SPEC §6.
type Step string

// The steps of processing one partition.
const (
	StepDecode  Step = "decode"
	StepInput   Step = "check_input"
	StepRead    Step = "read_pair_write"
	StepReplace Step = "replace"
	StepOutput  Step = "check_output"
	StepPublish Step = "publish"
)

// Class says what happens to an event whose processing failed.
type Class string

// The error classes of SPEC §7.
const (
	Retryable Class = "retryable"
	Permanent Class = "permanent"
)

// ErrNotReady marks an input check that found the partition missing, empty
// or short: stage 5 may still be committing, so it is retryable a few times.
var ErrNotReady = errors.New("partition not ready")

// permanentError marks a cause that no retry can fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// MarkPermanent wraps err so that ClassOf reports it as permanent. Adapters
// use it for answers such as "table not found" or "invalid schema".
func MarkPermanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// ClassOf classifies err: permanent when any error in its chain was marked
// with MarkPermanent, retryable otherwise (warehouse and network errors,
// quotas, a partition not ready, shutdown).
func ClassOf(err error) Class {
	var p *permanentError
	if errors.As(err, &p) {
		return Permanent
	}
	return Retryable
}

// StepError is the error every failed partition run returns: it names the
// step, the partition, the run and whether a retry can help, and wraps the
// cause chain.
type StepError struct {
	Step      Step
	Partition civil.Date
	RunID     string
	Class     Class
	Err       error
}

func (e *StepError) Error() string {
	verdict := "a later attempt may succeed"
	if e.Class == Permanent {
		verdict = "retrying cannot succeed"
	}
	return fmt.Sprintf("stage 6 step %s failed for partition %s run %s (%s: %s): %v",
		e.Step, e.Partition, e.RunID, e.Class, verdict, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

func stepErr(step Step, day civil.Date, runID string, err error) error {
	if err == nil {
		return nil
	}
	var se *StepError
	if errors.As(err, &se) {
		return err
	}
	return &StepError{Step: step, Partition: day, RunID: runID, Class: ClassOf(err), Err: err}
}
