package events

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"github.com/google/go-cmp/cmp"

	"github.com/turnstile-dev/turnstile/worker"
)

func ptr[T any](v T) *T { return &v }

func TestDecodeStage5Valid(t *testing.T) {
	t.Parallel()
	completed := time.Date(2026, 1, 22, 10, 0, 0, 0, time.UTC)
	day := civil.Date{Year: 2026, Month: 1, Day: 22}
	tests := []struct {
		name string
		data string
		want Stage5
	}{
		{
			name: "spec example",
			data: `{"schema_version": 1, "event_type": "stage5.complete", "run_id": "run-20260122-a1",
			        "partition_date": "2026-01-22", "conversation_count": 1234,
			        "completed_at": "2026-01-22T10:00:00Z"}`,
			want: Stage5{SchemaVersion: 1, EventType: TypeStage5, RunID: "run-20260122-a1", PartitionDate: day,
				ConversationCount: ptr(int64(1234)), CompletedAt: &completed},
		},
		{
			name: "optional fields absent",
			data: `{"schema_version":1,"event_type":"stage5.complete","run_id":"r1","partition_date":"2024-02-29"}`,
			want: Stage5{SchemaVersion: 1, EventType: TypeStage5, RunID: "r1", PartitionDate: civil.Date{Year: 2024, Month: 2, Day: 29}},
		},
		{
			name: "optional fields null",
			data: `{"schema_version":1,"event_type":"stage5.complete","run_id":"r1","partition_date":"2026-01-22","conversation_count":null,"completed_at":null}`,
			want: Stage5{SchemaVersion: 1, EventType: TypeStage5, RunID: "r1", PartitionDate: day},
		},
		{
			name: "zero conversation_count is kept",
			data: `{"schema_version":1,"event_type":"stage5.complete","run_id":"r1","partition_date":"2026-01-22","conversation_count":0}`,
			want: Stage5{SchemaVersion: 1, EventType: TypeStage5, RunID: "r1", PartitionDate: day, ConversationCount: ptr(int64(0))},
		},
		{
			name: "unknown extra fields are tolerated",
			data: `{"schema_version":1,"event_type":"stage5.complete","run_id":"r1","partition_date":"2026-01-22","producer":{"host":"x"},"tables":["a"]}`,
			want: Stage5{SchemaVersion: 1, EventType: TypeStage5, RunID: "r1", PartitionDate: day},
		},
		{
			name: "completed_at with offset and fraction",
			data: `{"schema_version":1,"event_type":"stage5.complete","run_id":"r1","partition_date":"2026-01-22","completed_at":"2026-01-22T11:00:00.5+01:00"}`,
			want: Stage5{SchemaVersion: 1, EventType: TypeStage5, RunID: "r1", PartitionDate: day,
				CompletedAt: ptr(completed.Add(500 * time.Millisecond))},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeStage5([]byte(tc.data))
			if err != nil {
				t.Fatalf("DecodeStage5: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("DecodeStage5 (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeStage5Invalid(t *testing.T) {
	t.Parallel()
	// valid returns a valid event with field set to value (raw JSON), or
	// removed when value is "".
	valid := func(field, value string) string {
		m := map[string]json.RawMessage{
			"schema_version":     json.RawMessage(`1`),
			"event_type":         json.RawMessage(`"stage5.complete"`),
			"run_id":             json.RawMessage(`"run-1"`),
			"partition_date":     json.RawMessage(`"2026-01-22"`),
			"conversation_count": json.RawMessage(`10`),
			"completed_at":       json.RawMessage(`"2026-01-22T10:00:00Z"`),
		}
		if value == "" {
			delete(m, field)
		} else {
			m[field] = json.RawMessage(value)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name      string
		data      string
		wantField string
		wantText  string // a fragment of the error message
	}{
		{name: "truncated JSON", data: `{"schema_version": 1,`, wantText: "malformed JSON"},
		{name: "not JSON", data: `stage5.complete 2026-01-22`, wantText: "malformed JSON"},
		{name: "empty data", data: ``, wantText: "malformed JSON"},
		{name: "JSON array", data: `[1,2]`, wantText: "not a JSON object"},
		{name: "JSON string", data: `"2026-01-22"`, wantText: "not a JSON object"},
		{name: "JSON null", data: `null`, wantText: "not a JSON object"},
		{name: "schema_version missing", data: valid("schema_version", ""), wantField: "schema_version", wantText: "missing"},
		{name: "schema_version null", data: valid("schema_version", "null"), wantField: "schema_version", wantText: "missing"},
		{name: "schema_version 2", data: valid("schema_version", "2"), wantField: "schema_version", wantText: "unsupported version 2"},
		{name: "schema_version 0", data: valid("schema_version", "0"), wantField: "schema_version", wantText: "unsupported version 0"},
		{name: "schema_version as string", data: valid("schema_version", `"1"`), wantField: "schema_version", wantText: "an integer is expected"},
		{name: "schema_version fractional", data: valid("schema_version", `1.5`), wantField: "schema_version", wantText: "an integer is expected"},
		{name: "event_type missing", data: valid("event_type", ""), wantField: "event_type", wantText: "missing"},
		{name: "event_type empty", data: valid("event_type", `""`), wantField: "event_type", wantText: "missing"},
		{name: "event_type unknown", data: valid("event_type", `"stage6.complete"`), wantField: "event_type", wantText: `unknown event type "stage6.complete"`},
		{name: "run_id missing", data: valid("run_id", ""), wantField: "run_id", wantText: "missing"},
		{name: "run_id empty", data: valid("run_id", `""`), wantField: "run_id", wantText: "missing"},
		{name: "run_id blank", data: valid("run_id", `"  "`), wantField: "run_id", wantText: "missing"},
		{name: "run_id number", data: valid("run_id", `42`), wantField: "run_id", wantText: "a string is expected"},
		{name: "run_id with id separator", data: valid("run_id", `"a\u001fb"`), wantField: "run_id", wantText: "U+001F"},
		{name: "run_id too long", data: valid("run_id", `"`+strings.Repeat("r", 1025)+`"`), wantField: "run_id", wantText: "longer than 1024 bytes"},
		{name: "partition_date missing", data: valid("partition_date", ""), wantField: "partition_date", wantText: "missing"},
		{name: "partition_date 30 February", data: valid("partition_date", `"2026-02-30"`), wantField: "partition_date", wantText: "not a real date"},
		{name: "partition_date 29 February of a common year", data: valid("partition_date", `"2026-02-29"`), wantField: "partition_date", wantText: "not a real date"},
		{name: "partition_date month 13", data: valid("partition_date", `"2026-13-01"`), wantField: "partition_date", wantText: "not a real date"},
		{name: "partition_date without zero padding", data: valid("partition_date", `"2026-1-22"`), wantField: "partition_date", wantText: "not a real date"},
		{name: "partition_date day first", data: valid("partition_date", `"22/01/2026"`), wantField: "partition_date", wantText: "not a real date"},
		{name: "partition_date timestamp", data: valid("partition_date", `"2026-01-22T00:00:00Z"`), wantField: "partition_date", wantText: "not a real date"},
		{name: "partition_date number", data: valid("partition_date", `20260122`), wantField: "partition_date", wantText: "a string is expected"},
		{name: "conversation_count negative", data: valid("conversation_count", `-1`), wantField: "conversation_count", wantText: "must not be negative"},
		{name: "conversation_count fractional", data: valid("conversation_count", `1.5`), wantField: "conversation_count", wantText: "an integer is expected"},
		{name: "conversation_count string", data: valid("conversation_count", `"12"`), wantField: "conversation_count", wantText: "an integer is expected"},
		{name: "completed_at not a timestamp", data: valid("completed_at", `"yesterday"`), wantField: "completed_at", wantText: "not an RFC 3339 timestamp"},
		{name: "completed_at without zone", data: valid("completed_at", `"2026-01-22T10:00:00"`), wantField: "completed_at", wantText: "not an RFC 3339 timestamp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeStage5([]byte(tc.data))
			if err == nil {
				t.Fatalf("DecodeStage5(%s) succeeded, want an error", tc.data)
			}
			if got := worker.ClassOf(err); got != worker.Permanent {
				t.Errorf("ClassOf(%v) = %s, want %s", err, got, worker.Permanent)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			if de.Field != tc.wantField {
				t.Errorf("DecodeError.Field = %q, want %q (error: %v)", de.Field, tc.wantField, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantText) {
				t.Errorf("error %q does not contain %q", msg, tc.wantText)
			}
			if tc.wantField != "" && !strings.Contains(msg, "field "+tc.wantField) {
				t.Errorf("error %q does not name field %s", msg, tc.wantField)
			}
		})
	}
}

func TestStage5Encode(t *testing.T) {
	t.Parallel()
	day := civil.Date{Year: 2026, Month: 1, Day: 22}
	completed := time.Date(2026, 1, 22, 11, 0, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name      string
		in        Stage5
		want      Stage5 // what DecodeStage5 gives back
		wantAttrs map[string]string
		wantKeys  []string // the JSON keys of the data, sorted
	}{
		{
			name: "defaults filled in",
			in:   Stage5{RunID: "run-1", PartitionDate: day},
			want: Stage5{SchemaVersion: 1, EventType: TypeStage5, RunID: "run-1", PartitionDate: day},
			wantAttrs: map[string]string{"event_type": "stage5.complete", "schema_version": "1",
				"partition_date": "2026-01-22", "run_id": "run-1"},
			wantKeys: []string{"event_type", "partition_date", "run_id", "schema_version"},
		},
		{
			name: "all fields",
			in: Stage5{SchemaVersion: 1, EventType: TypeStage5, RunID: "run-2", PartitionDate: day,
				ConversationCount: ptr(int64(0)), CompletedAt: &completed},
			want: Stage5{SchemaVersion: 1, EventType: TypeStage5, RunID: "run-2", PartitionDate: day,
				ConversationCount: ptr(int64(0)), CompletedAt: ptr(completed.UTC())},
			wantAttrs: map[string]string{"event_type": "stage5.complete", "schema_version": "1",
				"partition_date": "2026-01-22", "run_id": "run-2"},
			wantKeys: []string{"completed_at", "conversation_count", "event_type", "partition_date", "run_id", "schema_version"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data, attrs, err := tc.in.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if diff := cmp.Diff(tc.wantAttrs, attrs); diff != "" {
				t.Errorf("attributes (-want +got):\n%s", diff)
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(data, &raw); err != nil {
				t.Fatalf("data is not a JSON object: %v", err)
			}
			if diff := cmp.Diff(tc.wantKeys, slices.Sorted(maps.Keys(raw))); diff != "" {
				t.Errorf("JSON keys (-want +got):\n%s", diff)
			}
			got, err := DecodeStage5(data)
			if err != nil {
				t.Fatalf("DecodeStage5(Encode()): %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("DecodeStage5(Encode()) (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(attrs, got.Attributes()); diff != "" {
				t.Errorf("Attributes() differs from Encode's (-encode +attributes):\n%s", diff)
			}
		})
	}
}

func TestStage5EncodeInvalid(t *testing.T) {
	t.Parallel()
	day := civil.Date{Year: 2026, Month: 1, Day: 22}
	tests := []struct {
		name      string
		in        Stage5
		wantField string
	}{
		{name: "no run id", in: Stage5{PartitionDate: day}, wantField: "run_id"},
		{name: "no partition", in: Stage5{RunID: "r"}, wantField: "partition_date"},
		{name: "impossible partition", in: Stage5{RunID: "r", PartitionDate: civil.Date{Year: 2026, Month: 2, Day: 30}}, wantField: "partition_date"},
		{name: "negative count", in: Stage5{RunID: "r", PartitionDate: day, ConversationCount: ptr(int64(-3))}, wantField: "conversation_count"},
		{name: "other schema version", in: Stage5{SchemaVersion: 2, RunID: "r", PartitionDate: day}, wantField: "schema_version"},
		{name: "other event type", in: Stage5{EventType: TypeStage6, RunID: "r", PartitionDate: day}, wantField: "event_type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := tc.in.Encode()
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Encode error = %v, want a *DecodeError", err)
			}
			if de.Field != tc.wantField {
				t.Errorf("DecodeError.Field = %q, want %q", de.Field, tc.wantField)
			}
		})
	}
}
