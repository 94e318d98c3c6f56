package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/civil"

	"github.com/turnstile-dev/turnstile/internal/identity"
	"github.com/turnstile-dev/turnstile/worker"
)

// EventIDLevel is the identity level of stage6.complete event ids.
const EventIDLevel = "EVT6"

// Stage6 is a stage6.complete event (SPEC §5): stage 6 replaced the turns of
// one partition. Its JSON form is the message data.
type Stage6 struct {
	SchemaVersion int    `json:"schema_version"`
	EventType     string `json:"event_type"`
	// EventID is identity.ID("EVT6", run_id, partition_date): the same for
	// every delivery of the same stage5.complete event, so that downstream
	// stages can drop duplicates.
	EventID           string     `json:"event_id"`
	RunID             string     `json:"run_id"`
	PartitionDate     civil.Date `json:"partition_date"`
	TurnsTable        string     `json:"turns_table"`
	TurnsCreated      int64      `json:"turns_created"`
	SessionsProcessed int64      `json:"sessions_processed"` // conversations with at least one turn
	MessagesRead      int64      `json:"messages_read"`
	SourceMessageID   string     `json:"source_message_id"` // Pub/Sub id of the stage5.complete message
	StartedAt         time.Time  `json:"started_at"`
	CompletedAt       time.Time  `json:"completed_at"`
}

// EventID returns the deterministic id of the stage6.complete event for a
// run and partition.
func EventID(runID string, day civil.Date) (string, error) {
	id, err := identity.ID(EventIDLevel, runID, day.String())
	if err != nil {
		return "", fmt.Errorf("event id for run %q partition %s: %w", runID, day, err)
	}
	return id, nil
}

// NewStage6 builds the stage6.complete event for the stage5.complete event
// in, delivered as the Pub/Sub message sourceMessageID, that produced the
// summary s. It fails when s is a dry run (a dry run publishes nothing), when
// s names another partition or run than in, or when no event id can be
// derived from in.
func NewStage6(in Stage5, sourceMessageID string, s worker.Summary) (Stage6, error) {
	if s.DryRun {
		return Stage6{}, errors.New("build stage6.complete event: a dry run publishes no event")
	}
	if s.Partition != "" && s.Partition != in.PartitionDate.String() {
		return Stage6{}, fmt.Errorf("build stage6.complete event: summary is for partition %s, event for %s", s.Partition, in.PartitionDate)
	}
	if s.RunID != "" && s.RunID != in.RunID {
		return Stage6{}, fmt.Errorf("build stage6.complete event: summary is for run %q, event for %q", s.RunID, in.RunID)
	}
	id, err := EventID(in.RunID, in.PartitionDate)
	if err != nil {
		return Stage6{}, fmt.Errorf("build stage6.complete event: %w", err)
	}
	return Stage6{
		SchemaVersion:     SchemaVersion,
		EventType:         TypeStage6,
		EventID:           id,
		RunID:             in.RunID,
		PartitionDate:     in.PartitionDate,
		TurnsTable:        s.TurnsTable,
		TurnsCreated:      s.TurnsCreated,
		SessionsProcessed: s.SessionsProcessed,
		MessagesRead:      s.MessagesRead,
		SourceMessageID:   sourceMessageID,
		StartedAt:         s.StartedAt.UTC(),
		CompletedAt:       s.CompletedAt.UTC(),
	}, nil
}

// Encode returns the message data and the four filter attributes
// (event_type, schema_version, partition_date, run_id) of e.
func (e Stage6) Encode() (data []byte, attrs map[string]string, err error) {
	data, err = json.Marshal(e)
	if err != nil {
		return nil, nil, fmt.Errorf("encode %s event: %w", TypeStage6, err)
	}
	return data, attributes(e.EventType, e.SchemaVersion, e.PartitionDate, e.RunID), nil
}

// DecodeStage6 decodes the data of a stage6.complete message, for
// downstream consumers and tests. It returns a *DecodeError, wrapped with
// worker.MarkPermanent, when the data is not a stage6.complete event of
// SchemaVersion with an event_id, a run_id and a partition_date.
func DecodeStage6(data []byte) (Stage6, error) {
	var e Stage6
	if err := unmarshalObject(TypeStage6, data, &e); err != nil {
		return Stage6{}, worker.MarkPermanent(err)
	}
	bad := func(field, reason string) (Stage6, error) {
		return Stage6{}, worker.MarkPermanent(&DecodeError{Event: TypeStage6, Field: field, Reason: reason})
	}
	switch {
	case e.SchemaVersion != SchemaVersion:
		return bad("schema_version", fmt.Sprintf("unsupported version %d (want %d)", e.SchemaVersion, SchemaVersion))
	case e.EventType != TypeStage6:
		return bad("event_type", fmt.Sprintf("unknown event type %q (want %q)", e.EventType, TypeStage6))
	case e.EventID == "":
		return bad("event_id", "missing")
	case e.RunID == "":
		return bad("run_id", "missing")
	case e.PartitionDate.IsZero():
		return bad("partition_date", "missing")
	}
	return e, nil
}
