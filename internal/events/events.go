// Package events encodes and decodes the Pub/Sub events of SPEC §5: the
// stage5.complete event that starts stage 6 and the stage6.complete event it
// publishes when a partition is done. It knows nothing of Pub/Sub clients:
// it turns events into message data and attributes and back.
package events

import (
	"fmt"
	"strconv"
	"strings"

	"cloud.google.com/go/civil"
)

// SchemaVersion is the only schema_version this package reads and writes.
const SchemaVersion = 1

// Event types.
const (
	TypeStage5 = "stage5.complete"
	TypeStage6 = "stage6.complete"
)

// The attributes copied from the event data onto every message so that
// subscriptions can filter (SPEC §5).
const (
	AttrEventType     = "event_type"
	AttrSchemaVersion = "schema_version"
	AttrPartitionDate = "partition_date"
	AttrRunID         = "run_id"
)

// DecodeError reports event data that cannot be accepted. Field names the
// JSON field at fault; it is empty when the data is not a JSON object at all.
// DecodeStage5 and DecodeStage6 return it wrapped in worker.MarkPermanent:
// no retry can fix it.
type DecodeError struct {
	Event  string // the event type being decoded, e.g. "stage5.complete"
	Field  string // the JSON field at fault, "" for the data as a whole
	Reason string // what is wrong with it
	Err    error  // the underlying parse error, if any
}

func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString("invalid ")
	b.WriteString(e.Event)
	b.WriteString(" event: ")
	if e.Field != "" {
		b.WriteString("field ")
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// attributes returns the four filter attributes of an event.
func attributes(eventType string, version int, day civil.Date, runID string) map[string]string {
	return map[string]string{
		AttrEventType:     eventType,
		AttrSchemaVersion: strconv.Itoa(version),
		AttrPartitionDate: day.String(),
		AttrRunID:         runID,
	}
}

// parseDate parses a partition date in the strict YYYY-MM-DD form.
func parseDate(s string) (civil.Date, error) {
	d, err := civil.ParseDate(s)
	if err != nil {
		return civil.Date{}, err
	}
	if d.String() != s {
		return civil.Date{}, fmt.Errorf("not in YYYY-MM-DD form")
	}
	return d, nil
}
