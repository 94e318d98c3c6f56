package events

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"github.com/google/go-cmp/cmp"

	"github.com/turnstile-dev/turnstile/internal/identity"
	"github.com/turnstile-dev/turnstile/worker"
)

func testStage5(tb testing.TB, runID, day string) Stage5 {
	tb.Helper()
	d, err := civil.ParseDate(day)
	if err != nil {
		tb.Fatal(err)
	}
	return Stage5{SchemaVersion: 1, EventType: TypeStage5, RunID: runID, PartitionDate: d}
}

func testSummary(runID, day string) worker.Summary {
	start := time.Date(2026, 1, 22, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	return worker.Summary{
		Partition: day, RunID: runID, TurnsTable: "main.turns",
		Conversations: 12, SessionsProcessed: 10, MessagesRead: 90, TurnsCreated: 40,
		StartedAt: start, CompletedAt: start.Add(1500 * time.Millisecond),
	}
}

func TestNewStage6(t *testing.T) {
	t.Parallel()
	in := testStage5(t, "run-20260122-a1", "2026-01-22")
	got, err := NewStage6(in, "msg-17", testSummary(in.RunID, "2026-01-22"))
	if err != nil {
		t.Fatalf("NewStage6: %v", err)
	}
	start := time.Date(2026, 1, 22, 9, 0, 0, 0, time.UTC)
	want := Stage6{
		SchemaVersion: 1, EventType: "stage6.complete",
		EventID: identity.MustID("EVT6", "run-20260122-a1", "2026-01-22"),
		RunID:   "run-20260122-a1", PartitionDate: in.PartitionDate,
		TurnsTable: "main.turns", TurnsCreated: 40, SessionsProcessed: 10, MessagesRead: 90,
		SourceMessageID: "msg-17",
		StartedAt:       start, CompletedAt: start.Add(1500 * time.Millisecond),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewStage6 (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(got.EventID, "evt6_") || len(got.EventID) != len("evt6_")+26 {
		t.Errorf("EventID = %q, want evt6_ and 26 characters", got.EventID)
	}
}

func TestStage6EventIDIsDeterministic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		runA, dayA string
		runB, dayB string
		wantSame   bool
	}{
		{name: "redelivery of the same event", runA: "r1", dayA: "2026-01-22", runB: "r1", dayB: "2026-01-22", wantSame: true},
		{name: "other run", runA: "r1", dayA: "2026-01-22", runB: "r2", dayB: "2026-01-22"},
		{name: "other partition", runA: "r1", dayA: "2026-01-22", runB: "r1", dayB: "2026-01-23"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, err := NewStage6(testStage5(t, tc.runA, tc.dayA), "message-a", testSummary(tc.runA, tc.dayA))
			if err != nil {
				t.Fatal(err)
			}
			sb := testSummary(tc.runB, tc.dayB)
			sb.TurnsCreated++ // a reprocessing may find other data
			b, err := NewStage6(testStage5(t, tc.runB, tc.dayB), "message-b", sb)
			if err != nil {
				t.Fatal(err)
			}
			if same := a.EventID == b.EventID; same != tc.wantSame {
				t.Errorf("event ids %q and %q: same = %v, want %v", a.EventID, b.EventID, same, tc.wantSame)
			}
		})
	}
}

func TestNewStage6Rejects(t *testing.T) {
	t.Parallel()
	in := testStage5(t, "run-1", "2026-01-22")
	tests := []struct {
		name     string
		in       Stage5
		summary  func() worker.Summary
		wantText string
	}{
		{name: "dry run", in: in, summary: func() worker.Summary {
			s := testSummary("run-1", "2026-01-22")
			s.DryRun = true
			return s
		}, wantText: "dry run"},
		{name: "summary of another partition", in: in, summary: func() worker.Summary { return testSummary("run-1", "2026-01-23") }, wantText: "partition 2026-01-23"},
		{name: "summary of another run", in: in, summary: func() worker.Summary { return testSummary("run-2", "2026-01-22") }, wantText: `run "run-2"`},
		{name: "run id with the id separator", in: testStage5(t, "a\x1fb", "2026-01-22"), summary: func() worker.Summary { return testSummary("a\x1fb", "2026-01-22") }, wantText: "U+001F"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewStage6(tc.in, "m", tc.summary())
			if err == nil || !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("NewStage6 error = %v, want one containing %q", err, tc.wantText)
			}
		})
	}
}

func TestStage6Encode(t *testing.T) {
	t.Parallel()
	in := testStage5(t, "run-20260122-a1", "2026-01-22")
	e, err := NewStage6(in, "msg-17", testSummary(in.RunID, "2026-01-22"))
	if err != nil {
		t.Fatal(err)
	}
	data, attrs, err := e.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	wantAttrs := map[string]string{"event_type": "stage6.complete", "schema_version": "1",
		"partition_date": "2026-01-22", "run_id": "run-20260122-a1"}
	if diff := cmp.Diff(wantAttrs, attrs); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}

	// The data carries the SPEC §5 field names and JSON types.
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("data is not JSON: %v", err)
	}
	want := map[string]any{
		"schema_version": 1.0, "event_type": "stage6.complete", "event_id": e.EventID,
		"run_id": "run-20260122-a1", "partition_date": "2026-01-22", "turns_table": "main.turns",
		"turns_created": 40.0, "sessions_processed": 10.0, "messages_read": 90.0,
		"source_message_id": "msg-17",
		"started_at":        "2026-01-22T09:00:00Z", "completed_at": "2026-01-22T09:00:01.5Z",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}

	back, err := DecodeStage6(data)
	if err != nil {
		t.Fatalf("DecodeStage6(Encode()): %v", err)
	}
	if diff := cmp.Diff(e, back); diff != "" {
		t.Errorf("DecodeStage6(Encode()) (-want +got):\n%s", diff)
	}
}

func TestDecodeStage6Invalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		data      string
		wantField string
	}{
		{name: "malformed", data: `{"event_type":`, wantField: ""},
		{name: "stage5 event", data: `{"schema_version":1,"event_type":"stage5.complete","event_id":"e","run_id":"r","partition_date":"2026-01-22"}`, wantField: "event_type"},
		{name: "other version", data: `{"schema_version":3,"event_type":"stage6.complete","event_id":"e","run_id":"r","partition_date":"2026-01-22"}`, wantField: "schema_version"},
		{name: "no event id", data: `{"schema_version":1,"event_type":"stage6.complete","run_id":"r","partition_date":"2026-01-22"}`, wantField: "event_id"},
		{name: "no run id", data: `{"schema_version":1,"event_type":"stage6.complete","event_id":"e","partition_date":"2026-01-22"}`, wantField: "run_id"},
		{name: "no partition", data: `{"schema_version":1,"event_type":"stage6.complete","event_id":"e","run_id":"r"}`, wantField: "partition_date"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeStage6([]byte(tc.data))
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("DecodeStage6 error = %v, want a *DecodeError", err)
			}
			if de.Field != tc.wantField {
				t.Errorf("Field = %q, want %q", de.Field, tc.wantField)
			}
			if worker.ClassOf(err) != worker.Permanent {
				t.Errorf("ClassOf = %s, want permanent", worker.ClassOf(err))
			}
		})
	}
}
