package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/civil"

	"github.com/turnstile-dev/turnstile/worker"
)

// maxRunIDBytes is Pub/Sub's limit on an attribute value: run_id is copied
// into the attributes of both events.
const maxRunIDBytes = 1024

// Stage5 is a stage5.complete event (SPEC §5): stage 5 finished writing the
// conversations of one date partition.
type Stage5 struct {
	SchemaVersion int
	EventType     string
	RunID         string
	PartitionDate civil.Date
	// ConversationCount, when not nil, is the number of conversations the
	// partition must hold.
	ConversationCount *int64
	CompletedAt       *time.Time
}

// stage5Wire is the JSON form of Stage5. Pointers tell a missing field (or
// JSON null) from a zero value.
type stage5Wire struct {
	SchemaVersion     *int    `json:"schema_version,omitempty"`
	EventType         *string `json:"event_type,omitempty"`
	RunID             *string `json:"run_id,omitempty"`
	PartitionDate     *string `json:"partition_date,omitempty"`
	ConversationCount *int64  `json:"conversation_count,omitempty"`
	CompletedAt       *string `json:"completed_at,omitempty"`
}

// DecodeStage5 decodes and checks the data of a stage5.complete message
// (SPEC §6 step 1). Fields it does not know are ignored. Malformed JSON, a
// missing or unknown schema_version or event_type, a missing run_id, a
// partition_date that is not a real YYYY-MM-DD date, a negative
// conversation_count and a completed_at that is not an RFC 3339 timestamp
// are errors: a *DecodeError naming the field, wrapped with
// worker.MarkPermanent so that worker.ClassOf reports it as permanent.
func DecodeStage5(data []byte) (Stage5, error) {
	var w stage5Wire
	if err := unmarshalObject(TypeStage5, data, &w); err != nil {
		return Stage5{}, worker.MarkPermanent(err)
	}
	e, err := w.check()
	if err != nil {
		return Stage5{}, worker.MarkPermanent(err)
	}
	return e, nil
}

// Encode returns the message data and attributes of e, as `turnstile
// publish` sends them. A zero SchemaVersion or EventType is filled in with
// SchemaVersion and TypeStage5. It returns a *DecodeError when e would not
// pass DecodeStage5.
func (e Stage5) Encode() (data []byte, attrs map[string]string, err error) {
	version := e.SchemaVersion
	if version == 0 {
		version = SchemaVersion
	}
	eventType := e.EventType
	if eventType == "" {
		eventType = TypeStage5
	}
	w := stage5Wire{
		SchemaVersion:     &version,
		EventType:         &eventType,
		RunID:             &e.RunID,
		ConversationCount: e.ConversationCount,
	}
	if !e.PartitionDate.IsZero() {
		s := e.PartitionDate.String()
		w.PartitionDate = &s
	}
	if e.CompletedAt != nil {
		s := e.CompletedAt.UTC().Format(time.RFC3339Nano)
		w.CompletedAt = &s
	}
	checked, err := w.check()
	if err != nil {
		return nil, nil, err
	}
	data, err = json.Marshal(w)
	if err != nil {
		return nil, nil, fmt.Errorf("encode %s event: %w", TypeStage5, err)
	}
	return data, attributes(checked.EventType, checked.SchemaVersion, checked.PartitionDate, checked.RunID), nil
}

// Attributes returns the four filter attributes of e (SPEC §5).
func (e Stage5) Attributes() map[string]string {
	return attributes(e.EventType, e.SchemaVersion, e.PartitionDate, e.RunID)
}

// check validates w field by field, in a fixed order, and returns the event.
func (w stage5Wire) check() (Stage5, error) {
	bad := func(field, reason string, err error) (Stage5, error) {
		return Stage5{}, &DecodeError{Event: TypeStage5, Field: field, Reason: reason, Err: err}
	}
	var e Stage5
	switch {
	case w.SchemaVersion == nil:
		return bad("schema_version", "missing", nil)
	case *w.SchemaVersion != SchemaVersion:
		return bad("schema_version", fmt.Sprintf("unsupported version %d (want %d)", *w.SchemaVersion, SchemaVersion), nil)
	}
	e.SchemaVersion = *w.SchemaVersion

	switch {
	case w.EventType == nil || *w.EventType == "":
		return bad("event_type", "missing", nil)
	case *w.EventType != TypeStage5:
		return bad("event_type", fmt.Sprintf("unknown event type %q (want %q)", *w.EventType, TypeStage5), nil)
	}
	e.EventType = *w.EventType

	if err := checkRunID(w.RunID); err != "" {
		return bad("run_id", err, nil)
	}
	e.RunID = *w.RunID

	if w.PartitionDate == nil || *w.PartitionDate == "" {
		return bad("partition_date", "missing", nil)
	}
	day, err := parseDate(*w.PartitionDate)
	if err != nil {
		return bad("partition_date", fmt.Sprintf("%q is not a real date in YYYY-MM-DD form", *w.PartitionDate), err)
	}
	e.PartitionDate = day

	if w.ConversationCount != nil {
		if *w.ConversationCount < 0 {
			return bad("conversation_count", fmt.Sprintf("must not be negative, got %d", *w.ConversationCount), nil)
		}
		n := *w.ConversationCount
		e.ConversationCount = &n
	}

	if w.CompletedAt != nil {
		t, err := time.Parse(time.RFC3339Nano, *w.CompletedAt)
		if err != nil {
			return bad("completed_at", fmt.Sprintf("%q is not an RFC 3339 timestamp", *w.CompletedAt), err)
		}
		e.CompletedAt = &t
	}
	return e, nil
}

// checkRunID returns what is wrong with a run_id, or "".
func checkRunID(runID *string) string {
	switch {
	case runID == nil || strings.TrimSpace(*runID) == "":
		return "missing"
	case strings.ContainsRune(*runID, '\x1f'):
		return "contains the id separator U+001F"
	case len(*runID) > maxRunIDBytes:
		return fmt.Sprintf("longer than %d bytes", maxRunIDBytes)
	}
	return ""
}

// unmarshalObject decodes a JSON object into v and turns the decoder's
// errors into a *DecodeError naming the field at fault.
func unmarshalObject(event string, data []byte, v any) error {
	err := json.Unmarshal(data, v)
	if err == nil {
		if len(bytes.TrimSpace(data)) > 0 && bytes.TrimSpace(data)[0] != '{' {
			// JSON null decodes into a struct without error.
			return &DecodeError{Event: event, Reason: "data is not a JSON object"}
		}
		return nil
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return &DecodeError{Event: event, Reason: fmt.Sprintf("malformed JSON at byte %d", syntax.Offset), Err: err}
	case errors.As(err, &typ) && typ.Field == "":
		return &DecodeError{Event: event, Reason: "data is not a JSON object", Err: err}
	case errors.As(err, &typ):
		return &DecodeError{Event: event, Field: typ.Field, Reason: fmt.Sprintf("JSON %s where %s is expected", typ.Value, typeName(typ.Type.String())), Err: err}
	default:
		return &DecodeError{Event: event, Reason: "malformed JSON", Err: err}
	}
}

// typeName describes a Go type of a wire struct in JSON terms.
func typeName(goType string) string {
	switch strings.TrimPrefix(goType, "*") {
	case "int", "int64":
		return "an integer"
	case "string":
		return "a string"
	default:
		return goType
	}
}
