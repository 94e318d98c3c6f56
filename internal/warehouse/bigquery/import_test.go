package bigquery

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bq "google.golang.org/api/bigquery/v2"

	"github.com/turnstile-dev/turnstile/internal/ingest"
)

// sliceReader yields conversations, then err (io.EOF when nil).
type sliceReader struct {
	convs []ingest.Conversation
	err   error
	i     int
}

func (r *sliceReader) Next() (*ingest.Conversation, error) {
	if r.i == len(r.convs) {
		if r.err != nil {
			return nil, r.err
		}
		return nil, io.EOF
	}
	r.i++
	return &r.convs[r.i-1], nil
}

func importInput() []ingest.Conversation {
	t1 := time.Date(2026, 1, 22, 7, 0, 0, 0, time.UTC)
	return []ingest.Conversation{
		{ConversationID: "l8_a", Source: "openai", Title: "Trip", Metadata: json.RawMessage(`{"model": "gpt-4o"}`),
			Messages: []ingest.MessageRow{
				{MessageID: "l5_1", ConversationID: "l8_a", Seq: 0, HasSeq: true, Role: "user", HasRole: true,
					Content: "hi", HasContent: true, CreatedAt: t1, Metadata: json.RawMessage(`{"lang":"en"}`)},
				{MessageID: "l5_2", ConversationID: "l8_a", Seq: 1, HasSeq: true, Role: "assistant", HasRole: true},
			}},
		{ConversationID: "l8_b", Source: "sharegpt",
			Messages: []ingest.MessageRow{{MessageID: "l5_3", ConversationID: "l8_b", Seq: 0, HasSeq: true}}},
	}
}

// importHook answers the import transaction with its result row.
func importHook(seen *[]*bq.JobConfigurationQuery) func(q *bq.JobConfigurationQuery) queryOutcome {
	return func(q *bq.JobConfigurationQuery) queryOutcome {
		*seen = append(*seen, q)
		return queryOutcome{
			StatementType: "SCRIPT",
			Schema:        fields("replaced:INTEGER", "conversations:INTEGER", "messages:INTEGER"),
			Rows:          []*bq.TableRow{cells(1, 2, 3)},
		}
	}
}

func TestImport(t *testing.T) {
	f := newFakeBQ(t)
	var scripts []*bq.JobConfigurationQuery
	f.query = importHook(&scripts)
	w := f.newWarehouse(t, nil)

	res, err := w.Import(context.Background(), testDay, "import-1", &sliceReader{convs: importInput()})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if diff := cmp.Diff(ingest.Result{Conversations: 2, Messages: 3, Replaced: 1}, res); diff != "" {
		t.Errorf("Result (-want +got):\n%s", diff)
	}

	// One staging table, created and dropped at the end.
	var (
		created []*bq.Table
		deleted []string
	)
	for _, r := range f.requests() {
		switch {
		case r.Table != nil:
			created = append(created, r.Table)
		case r.Method == "DELETE":
			deleted = append(deleted, r.Path[strings.LastIndex(r.Path, "/")+1:])
		}
	}
	if len(created) != 1 || len(deleted) != 1 || !strings.HasPrefix(deleted[0], "turnstile_import_20260122_") {
		t.Fatalf("staging tables created %d, deleted %v; want one created and deleted", len(created), deleted)
	}
	if got, want := created[0].ExpirationTime, testNow.Add(24*time.Hour).UnixMilli(); got != want {
		t.Errorf("staging table expires at %d, want %d (a day after the import)", got, want)
	}
	if len(f.tables) != 0 {
		t.Errorf("tables left behind: %v", f.tables)
	}

	loads := f.loadInserts()
	if len(loads) != 1 {
		t.Fatalf("load jobs = %d, want 1", len(loads))
	}
	load := loads[0].Job.Configuration.Load
	if load.DestinationTable.TableId != deleted[0] || load.WriteDisposition != "WRITE_TRUNCATE" ||
		load.SourceFormat != "NEWLINE_DELIMITED_JSON" || loads[0].Job.Configuration.Labels["step"] != "import" {
		t.Errorf("load = %+v, want WRITE_TRUNCATE of NDJSON into the staging table, labelled step=import", load)
	}
	wantRows := []map[string]any{
		{"kind": "c", "pos": 0.0, "conversation_id": "l8_a", "source": "openai", "title": "Trip", "metadata": map[string]any{"model": "gpt-4o"}},
		{"kind": "m", "pos": 0.0, "conversation_id": "l8_a", "message_id": "l5_1", "seq": 0.0, "role": "user", "content": "hi",
			"created_at": "2026-01-22T07:00:00.000000Z", "metadata": map[string]any{"lang": "en"}},
		{"kind": "m", "pos": 0.0, "conversation_id": "l8_a", "message_id": "l5_2", "seq": 1.0, "role": "assistant"},
		{"kind": "c", "pos": 1.0, "conversation_id": "l8_b", "source": "sharegpt"},
		{"kind": "m", "pos": 1.0, "conversation_id": "l8_b", "message_id": "l5_3", "seq": 0.0},
	}
	if diff := cmp.Diff(wantRows, ndjson(t, f.jobData(loads[0].Job.JobReference.JobId))); diff != "" {
		t.Errorf("staged rows (-want +got):\n%s", diff)
	}

	if len(scripts) != 1 {
		t.Fatalf("queries = %d, want 1 transaction", len(scripts))
	}
	q := scripts[0]
	for _, s := range []string{
		"BEGIN TRANSACTION;", "COMMIT TRANSACTION;",
		"DELETE FROM `proj.ds.messages`\nWHERE ingestion_date = @day",
		"DELETE FROM `proj.ds.conversations`\nWHERE ingestion_date = @day",
		"INSERT INTO `proj.ds.conversations`", "INSERT INTO `proj.ds.messages`",
		"`proj.ds." + deleted[0] + "`",
	} {
		if !strings.Contains(q.Query, s) {
			t.Errorf("transaction lacks %q:\n%s", s, q.Query)
		}
	}
	wantParams := map[string]string{"day": "DATE=2026-01-22", "run_id": "STRING=import-1", "created_at": "TIMESTAMP=2026-01-22 12:00:00+00:00"}
	if diff := cmp.Diff(wantParams, params(q)); diff != "" {
		t.Errorf("parameters (-want +got):\n%s", diff)
	}
	if got := w.Budget(); got.LoadJobs != 1 || got.QueryJobs != 1 {
		t.Errorf("budget = %+v, want 1 load and 1 query job", got)
	}
}

func TestImportFailingReaderStoresNothing(t *testing.T) {
	f := newFakeBQ(t)
	var scripts []*bq.JobConfigurationQuery
	f.query = importHook(&scripts)
	w := f.newWarehouse(t, nil)
	bad := errors.New("line 3: unexpected end of JSON input")

	_, err := w.Import(context.Background(), testDay, "import-1", &sliceReader{convs: importInput(), err: bad})
	if !errors.Is(err, bad) {
		t.Fatalf("error = %v, want the reader's", err)
	}
	if len(scripts) != 0 {
		t.Errorf("the transaction ran after a failed read")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, j := range f.jobs {
		if j.job.Configuration.Load != nil {
			t.Errorf("load job %s created from a failed read", id)
		}
	}
	if len(f.tables) != 0 {
		t.Errorf("staging table left behind: %v", f.tables)
	}
}

func TestImportRejectsInvalidMetadata(t *testing.T) {
	f := newFakeBQ(t)
	var scripts []*bq.JobConfigurationQuery
	f.query = importHook(&scripts)
	w := f.newWarehouse(t, nil)
	in := importInput()
	in[1].Messages[0].Metadata = json.RawMessage(`{'a': 1}`)
	_, err := w.Import(context.Background(), testDay, "import-1", &sliceReader{convs: in})
	if err == nil || !strings.Contains(err.Error(), `conversation "l8_b" message "l5_3": metadata is not valid JSON`) {
		t.Errorf("error = %v, want one naming the conversation and message", err)
	}
	if len(scripts) != 0 {
		t.Errorf("the transaction ran")
	}
}

func TestImportEmptyInputStartsNothing(t *testing.T) {
	f := newFakeBQ(t)
	w := f.newWarehouse(t, nil)
	res, err := w.Import(context.Background(), testDay, "import-1", &sliceReader{})
	if err != nil || res != (ingest.Result{}) {
		t.Errorf("Import = %+v, %v; want an empty result", res, err)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests for an empty input, want 0", n)
	}
}
