package bigquery

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bq "google.golang.org/api/bigquery/v2"

	"github.com/turnstile-dev/turnstile/internal/turns"
)

var exportSchema = fields("turn_id:STRING", "parent_id:STRING", "turn_index:INTEGER",
	"user_message_ids:STRING:REPEATED", "response_message_ids:STRING:REPEATED", "user_text:STRING",
	"response_text:STRING", "started_at:TIMESTAMP", "ended_at:TIMESTAMP", "response_latency_ms:INTEGER",
	"is_complete:BOOLEAN", "metadata:JSON", "ingestion_date:DATE", "created_at:TIMESTAMP", "run_id:STRING")

func TestExportTurns(t *testing.T) {
	start := time.Date(2026, 1, 22, 8, 0, 0, 123456000, time.UTC)
	f := newFakeBQ(t)
	f.pageSize = 1
	var seen *bq.JobConfigurationQuery
	f.query = func(q *bq.JobConfigurationQuery) queryOutcome {
		seen = q
		return queryOutcome{Schema: exportSchema, Rows: []*bq.TableRow{
			cells("l6_a", "c1", 0, []string{"m1"}, []string{"m2", "m3"}, "hi", "hello", start, start.Add(5*time.Second),
				5000, true, `{"user_messages":1,"assistant_messages":1,"tool_messages":1,"system_messages":0,"user_chars":2,"response_chars":5,"assistant_initiated":false}`,
				testDay, testNow, testRun),
			cells("l6_b", "c1", 1, []string{}, nil, nil, nil, nil, nil, nil, nil, nil, testDay, testNow, testRun),
		}}
	}
	w := f.newWarehouse(t, nil)
	var got []turns.Row
	if err := w.ExportTurns(context.Background(), testDay, func(r *turns.Row) error {
		got = append(got, *r)
		return nil
	}); err != nil {
		t.Fatalf("ExportTurns: %v", err)
	}
	want := []turns.Row{
		{
			Turn: turns.Turn{
				TurnID: "l6_a", ParentID: "c1", TurnIndex: 0,
				UserMessageIDs: []string{"m1"}, ResponseMessageIDs: []string{"m2", "m3"},
				UserText: "hi", ResponseText: "hello", StartedAt: start, EndedAt: start.Add(5 * time.Second),
				ResponseLatencyMS: 5000, HasLatency: true, IsComplete: true,
				Metadata: turns.Metadata{UserMessages: 1, AssistantMessages: 1, ToolMessages: 1, UserChars: 2, ResponseChars: 5},
			},
			IngestionDate: testDay, CreatedAt: testNow, RunID: testRun,
		},
		{
			Turn:          turns.Turn{TurnID: "l6_b", ParentID: "c1", TurnIndex: 1},
			IngestionDate: testDay, CreatedAt: testNow, RunID: testRun,
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if seen == nil || !strings.Contains(seen.Query, "WHERE ingestion_date = @day") ||
		!strings.HasSuffix(seen.Query, "ORDER BY parent_id, turn_index") || !strings.Contains(seen.Query, "`proj.ds.turns`") {
		t.Errorf("export query does not read the partition of turns ordered by parent_id, turn_index:\n%v", seen)
	}
}
