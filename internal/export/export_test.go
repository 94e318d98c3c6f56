package export

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"github.com/google/go-cmp/cmp"

	"github.com/turnstile-dev/turnstile/internal/turns"
)

func TestWriteColumns(t *testing.T) {
	created := time.Date(2026, 1, 22, 10, 0, 0, 123000000, time.FixedZone("CET", 3600))
	started := time.Date(2026, 1, 22, 8, 0, 0, 0, time.UTC)
	rows := []turns.Row{
		{
			Turn: turns.Turn{
				TurnID: "l6_a", ParentID: "l8_p", TurnIndex: 0,
				UserMessageIDs: []string{"m1", "m2"}, ResponseMessageIDs: []string{"m3"},
				UserText: "hi <there>", ResponseText: "hello",
				StartedAt: started, EndedAt: started.Add(time.Second),
				ResponseLatencyMS: 250, HasLatency: true, IsComplete: true,
				Metadata: turns.Metadata{UserMessages: 2, AssistantMessages: 1, UserChars: 10, ResponseChars: 5},
			},
			IngestionDate: civil.Date{Year: 2026, Month: 1, Day: 22}, CreatedAt: created, RunID: "run-1",
		},
		{
			Turn: turns.Turn{TurnID: "l6_b", ParentID: "l8_p", TurnIndex: 1, ResponseLatencyMS: 99,
				Metadata: turns.Metadata{AssistantInitiated: true}},
			IngestionDate: civil.Date{Year: 2026, Month: 1, Day: 22}, CreatedAt: created, RunID: "run-1",
		},
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for i := range rows {
		if err := w.Write(&rows[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if w.Rows() != 2 {
		t.Errorf("Rows() = %d, want 2", w.Rows())
	}
	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	want := []map[string]any{
		{
			"turn_id": "l6_a", "parent_id": "l8_p", "turn_index": 0.0,
			"user_message_ids": []any{"m1", "m2"}, "response_message_ids": []any{"m3"},
			"user_text": "hi <there>", "response_text": "hello",
			"started_at": "2026-01-22T08:00:00Z", "ended_at": "2026-01-22T08:00:01Z",
			"response_latency_ms": 250.0, "is_complete": true,
			"metadata": map[string]any{"user_messages": 2.0, "assistant_messages": 1.0, "tool_messages": 0.0,
				"system_messages": 0.0, "user_chars": 10.0, "response_chars": 5.0, "assistant_initiated": false},
			"ingestion_date": "2026-01-22", "created_at": "2026-01-22T09:00:00.123Z", "run_id": "run-1",
		},
		{
			"turn_id": "l6_b", "parent_id": "l8_p", "turn_index": 1.0,
			"user_message_ids": []any{}, "response_message_ids": []any{},
			"user_text": "", "response_text": "",
			"started_at": nil, "ended_at": nil, "response_latency_ms": nil, "is_complete": false,
			"metadata": map[string]any{"user_messages": 0.0, "assistant_messages": 0.0, "tool_messages": 0.0,
				"system_messages": 0.0, "user_chars": 0.0, "response_chars": 0.0, "assistant_initiated": true},
			"ingestion_date": "2026-01-22", "created_at": "2026-01-22T09:00:00.123Z", "run_id": "run-1",
		},
	}
	for i, line := range lines {
		var got map[string]any
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("line %d is not JSON: %v", i+1, err)
		}
		if diff := cmp.Diff(want[i], got); diff != "" {
			t.Errorf("line %d (-want +got):\n%s", i+1, diff)
		}
	}
	if !bytes.Contains(lines[0], []byte("hi <there>")) {
		t.Errorf("HTML characters were escaped: %s", lines[0])
	}
}
