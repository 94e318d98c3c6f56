package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"github.com/google/go-cmp/cmp"

	"github.com/turnstile-dev/turnstile/internal/ingest"
	"github.com/turnstile-dev/turnstile/internal/turns"
	"github.com/turnstile-dev/turnstile/internal/warehouse/warehousetest"
	"github.com/turnstile-dev/turnstile/worker"
)

var (
	day      = civil.Date{Year: 2026, Month: time.January, Day: 22}
	otherDay = civil.Date{Year: 2026, Month: time.January, Day: 23}
)

// openTest opens a warehouse in a temporary file, with its tables unless
// noSchema.
func openTest(tb testing.TB, o Options, noSchema bool) *Warehouse {
	tb.Helper()
	if o.Path == "" {
		o.Path = filepath.Join(tb.TempDir(), "warehouse.duckdb")
	}
	w, err := Open(context.Background(), o)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := w.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	if !noSchema {
		if _, err := w.EnsureSchema(context.Background()); err != nil {
			tb.Fatalf("EnsureSchema: %v", err)
		}
	}
	return w
}

func TestContract(t *testing.T) {
	warehousetest.Run(t,
		func(t *testing.T) warehousetest.Warehouse { return openTest(t, Options{Threads: 2}, false) },
		warehousetest.InsertMessages(func(t *testing.T, wh warehousetest.Warehouse, d civil.Date, rows []ingest.MessageRow) {
			w := wh.(*Warehouse)
			for _, m := range rows {
				_, err := w.db.Exec(`INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, NULL, CAST(? AS DATE))`,
					m.MessageID, m.ConversationID, nullInt(m.Seq, m.HasSeq), nullString(m.Role, m.HasRole),
					nullString(m.Content, m.HasContent), nullTime(m.CreatedAt), d.String())
				if err != nil {
					t.Fatalf("insert message %s: %v", m.MessageID, err)
				}
			}
		}),
	)
}

func nullInt(v int64, valid bool) any {
	if !valid {
		return nil
	}
	return v
}

func TestSchemaTypes(t *testing.T) {
	w := openTest(t, Options{}, false)
	got := map[string]string{}
	rows, err := w.db.Query(`SELECT table_name || '.' || column_name, data_type || CASE WHEN is_nullable = 'NO' THEN ' NOT NULL' ELSE '' END
		FROM information_schema.columns WHERE table_schema = 'main'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var col, typ string
		if err := rows.Scan(&col, &typ); err != nil {
			t.Fatal(err)
		}
		got[col] = typ
	}
	// Every column with its type and nullability (SPEC §2).
	want := map[string]string{
		"messages.message_id":           "VARCHAR NOT NULL",
		"messages.seq":                  "BIGINT",
		"messages.created_at":           "TIMESTAMP WITH TIME ZONE",
		"messages.metadata":             "JSON",
		"messages.ingestion_date":       "DATE NOT NULL",
		"conversations.source":          "VARCHAR NOT NULL",
		"conversations.created_at":      "TIMESTAMP WITH TIME ZONE NOT NULL",
		"conversations.metadata":        "JSON",
		"conversations.ingestion_date":  "DATE NOT NULL",
		"turns.turn_index":              "BIGINT NOT NULL",
		"turns.user_message_ids":        "VARCHAR[]",
		"turns.response_message_ids":    "VARCHAR[]",
		"turns.started_at":              "TIMESTAMP WITH TIME ZONE",
		"turns.response_latency_ms":     "BIGINT",
		"turns.is_complete":             "BOOLEAN",
		"turns.metadata":                "JSON",
		"turns.ingestion_date":          "DATE NOT NULL",
		"turns.created_at":              "TIMESTAMP WITH TIME ZONE NOT NULL",
		"turns.run_id":                  "VARCHAR NOT NULL",
		"conversations.conversation_id": "VARCHAR NOT NULL",
		"messages.conversation_id":      "VARCHAR NOT NULL",
		"turns.parent_id":               "VARCHAR NOT NULL",
		"turns.turn_id":                 "VARCHAR NOT NULL",
		"conversations.started_at":      "TIMESTAMP WITH TIME ZONE",
		"conversations.message_count":   "BIGINT",
		"conversations.run_id":          "VARCHAR",
		"turns.response_text":           "VARCHAR",
		"messages.content":              "VARCHAR",
		"messages.role":                 "VARCHAR",
		"conversations.title":           "VARCHAR",
		"turns.ended_at":                "TIMESTAMP WITH TIME ZONE",
		"turns.user_text":               "VARCHAR",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("column types (-want +got):\n%s", diff)
	}

	// A written turn reads back with the types the columns promise.
	mustReplace(t, w, day, []turns.Turn{{TurnID: "t", ParentID: "p", UserMessageIDs: []string{"u"}}})
	var dateType, tsType, metaType, listType string
	err = w.db.QueryRow(`SELECT typeof(ingestion_date), typeof(created_at), typeof(metadata), typeof(user_message_ids) FROM turns`).
		Scan(&dateType, &tsType, &metaType, &listType)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"DATE", "TIMESTAMP WITH TIME ZONE", "JSON", "VARCHAR[]"}, []string{dateType, tsType, metaType, listType}); diff != "" {
		t.Errorf("typeof of a written row (-want +got):\n%s", diff)
	}
	var validJSON bool
	if err := w.db.QueryRow(`SELECT json_valid(metadata) AND metadata->>'$.user_messages' IS NOT NULL FROM turns`).Scan(&validJSON); err != nil {
		t.Fatal(err)
	}
	if !validJSON {
		t.Error("turns.metadata is not a JSON object with user_messages")
	}
}

func TestEnsureSchemaIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.duckdb")
	o := Options{Path: path, MessagesTable: "msgs", ConversationsTable: "convs", TurnsTable: "l6_turns"}
	w := openTest(t, o, true)
	created, err := w.EnsureSchema(context.Background())
	if err != nil {
		t.Fatalf("first EnsureSchema: %v", err)
	}
	if diff := cmp.Diff([]string{"msgs", "convs", "l6_turns"}, created); diff != "" {
		t.Errorf("first EnsureSchema created (-want +got):\n%s", diff)
	}
	mustReplace(t, w, day, []turns.Turn{{TurnID: "t", ParentID: "p"}})

	created, err = w.EnsureSchema(context.Background())
	if err != nil {
		t.Fatalf("second EnsureSchema: %v", err)
	}
	if len(created) != 0 {
		t.Errorf("second EnsureSchema created %v, want nothing", created)
	}
	if got := countRows(t, w, "l6_turns"); got != 1 {
		t.Errorf("l6_turns holds %d rows after the second EnsureSchema, want 1", got)
	}
	if got := w.TurnsTableName(); got != "l6_turns" {
		t.Errorf("TurnsTableName() = %q, want l6_turns", got)
	}
}

func TestEnsureSchemaRejectsOtherSchema(t *testing.T) {
	for _, tc := range []struct {
		name, ddl, want string
	}{
		{"dates as strings", `CREATE TABLE turns (turn_id VARCHAR NOT NULL, parent_id VARCHAR NOT NULL, turn_index BIGINT NOT NULL,
			user_message_ids VARCHAR[], response_message_ids VARCHAR[], user_text VARCHAR, response_text VARCHAR,
			started_at TIMESTAMPTZ, ended_at TIMESTAMPTZ, response_latency_ms BIGINT, is_complete BOOLEAN, metadata VARCHAR,
			ingestion_date VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL, run_id VARCHAR NOT NULL)`,
			"column metadata is VARCHAR, want JSON; column ingestion_date is VARCHAR, want DATE"},
		{"missing column", `CREATE TABLE messages (message_id VARCHAR NOT NULL, conversation_id VARCHAR NOT NULL)`,
			"column seq is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := openTest(t, Options{}, true)
			if _, err := w.db.Exec(tc.ddl); err != nil {
				t.Fatal(err)
			}
			_, err := w.EnsureSchema(context.Background())
			if err == nil {
				t.Fatal("EnsureSchema accepted a table with another schema")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("EnsureSchema error = %v, want it to say %q", err, tc.want)
			}
			if worker.ClassOf(err) != worker.Permanent {
				t.Errorf("EnsureSchema error class = %s, want permanent", worker.ClassOf(err))
			}
		})
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"no path", Options{}},
		{"quote in table name", Options{TurnsTable: `turns"; DROP TABLE messages; --`}},
		{"dotted table name", Options{MessagesTable: "other.messages"}},
		{"leading digit", Options{ConversationsTable: "1conversations"}},
		{"shared name", Options{MessagesTable: "t", TurnsTable: "t"}},
		{"negative threads", Options{Threads: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name != "no path" {
				tc.o.Path = filepath.Join(dir, "w.duckdb")
			}
			w, err := Open(context.Background(), tc.o)
			if err == nil {
				w.Close()
				t.Fatalf("Open(%+v) succeeded, want an error", tc.o)
			}
			if worker.ClassOf(err) != worker.Permanent {
				t.Errorf("Open error class = %s, want permanent: %v", worker.ClassOf(err), err)
			}
		})
	}
}

func TestOpenAppliesSettings(t *testing.T) {
	tmp := filepath.Join(t.TempDir(), "spill")
	w := openTest(t, Options{MemoryLimit: "512MB", Threads: 1, TempDirectory: tmp}, false)
	var limit, threads, dir, order, tz string
	err := w.db.QueryRow(`SELECT current_setting('memory_limit'), current_setting('threads')::VARCHAR,
		current_setting('temp_directory'), current_setting('preserve_insertion_order')::VARCHAR, current_setting('TimeZone')`).
		Scan(&limit, &threads, &dir, &order, &tz)
	if err != nil {
		t.Fatal(err)
	}
	// preserve_insertion_order must stay true: see TestLargeReadIsOrdered.
	want := []string{"488.2 MiB", "1", tmp, "true", "UTC"}
	if diff := cmp.Diff(want, []string{limit, threads, dir, order, tz}); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
}

func TestMissingTableIsPermanent(t *testing.T) {
	w := openTest(t, Options{}, true)
	ctx := context.Background()
	for _, tc := range []struct {
		name, table string
		call        func() error
	}{
		{"CheckInput", "conversations", func() error { _, err := w.CheckInput(ctx, day); return err }},
		{"ReadConversations", "conversations", func() error {
			_, err := w.ReadConversations(ctx, day, func(string, []turns.Message) error { return nil })
			return err
		}},
		{"ReplaceTurns", "turns", func() error {
			_, err := w.ReplaceTurns(ctx, worker.Replacement{Day: day, RunID: "r", CreatedAt: time.Now(),
				Produce: func(context.Context, worker.Put) error { return nil }})
			return err
		}},
		{"Import", "conversations", func() error {
			_, err := w.Import(ctx, day, "r", &sliceReader{})
			return err
		}},
		{"ExportTurns", "turns", func() error { return w.ExportTurns(ctx, day, func(*turns.Row) error { return nil }) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("succeeded without tables")
			}
			if worker.ClassOf(err) != worker.Permanent {
				t.Errorf("class = %s, want permanent: %v", worker.ClassOf(err), err)
			}
			for _, s := range []string{"turnstile setup", tc.table, day.String()} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

// TestReplaceIsOneTransaction checks that the appender writes inside the
// replacement's transaction: another connection sees the old partition
// until the commit, and a rollback removes the appended rows.
func TestReplaceIsOneTransaction(t *testing.T) {
	w := openTest(t, Options{}, false)
	ctx := context.Background()
	mustReplace(t, w, day, []turns.Turn{{TurnID: "old", ParentID: "p"}})

	// More rows than one appender chunk (2048), so some are flushed into
	// the transaction while Produce is still running.
	many := make([]turns.Turn, 5000)
	for i := range many {
		many[i] = turns.Turn{TurnID: fmt.Sprintf("new-%04d", i), ParentID: "p", TurnIndex: int64(i)}
	}
	errRefuse := errors.New("refused")
	var seenInside, seenOutside []int64
	observe := func() {
		seenOutside = append(seenOutside, countExported(t, w, day))
	}
	_, err := w.ReplaceTurns(ctx, worker.Replacement{
		Day: day, RunID: "run-2", CreatedAt: time.Now(),
		Produce: func(ctx context.Context, put worker.Put) error {
			for i := range many {
				if err := put(&many[i]); err != nil {
					return err
				}
				if i == 4500 {
					observe()
				}
			}
			return nil
		},
		Check: func(o worker.OutputInfo) error {
			seenInside = append(seenInside, o.Rows)
			observe()
			return errRefuse
		},
	})
	if !errors.Is(err, errRefuse) {
		t.Fatalf("ReplaceTurns error = %v, want %v", err, errRefuse)
	}
	if diff := cmp.Diff([]int64{5000}, seenInside); diff != "" {
		t.Errorf("rows the transaction saw (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{1, 1}, seenOutside); diff != "" {
		t.Errorf("rows another connection saw during the replacement (-want +got):\n%s", diff)
	}
	if got := countExported(t, w, day); got != 1 {
		t.Errorf("rows after the rollback = %d, want the old 1", got)
	}
	if got := countRows(t, w, "turns"); got != 1 {
		t.Errorf("turns table holds %d rows after the rollback, want 1", got)
	}

	mustReplace(t, w, day, many)
	if got := countExported(t, w, day); got != 5000 {
		t.Errorf("rows after the commit = %d, want 5000", got)
	}
}

// TestReplaceConflictIsRetryable: a replacement that meets another
// writer's uncommitted delete of the same partition fails retryably and
// leaves the partition as it was.
func TestReplaceConflictIsRetryable(t *testing.T) {
	w := openTest(t, Options{}, false)
	ctx := context.Background()
	mustReplace(t, w, day, []turns.Turn{{TurnID: "old", ParentID: "p"}})

	other, err := w.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.ExecContext(ctx, "DELETE FROM turns WHERE ingestion_date = DATE '2026-01-22'"); err != nil {
		t.Fatal(err)
	}
	_, err = w.ReplaceTurns(ctx, worker.Replacement{Day: day, RunID: "run-2", CreatedAt: time.Now(),
		Produce: func(ctx context.Context, put worker.Put) error { return put(&turns.Turn{TurnID: "new", ParentID: "p"}) }})
	if err == nil {
		t.Fatal("ReplaceTurns succeeded while another transaction deleted the partition")
	}
	if worker.ClassOf(err) != worker.Retryable {
		t.Errorf("conflict class = %s, want retryable: %v", worker.ClassOf(err), err)
	}
	for _, s := range []string{"replace partition 2026-01-22", "turns", "run-2"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
	if _, err := other.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if got := countExported(t, w, day); got != 1 {
		t.Errorf("rows after the conflict = %d, want the old 1", got)
	}
}

func TestReplaceRejectsBadReplacement(t *testing.T) {
	w := openTest(t, Options{}, false)
	produce := func(context.Context, worker.Put) error { return nil }
	for _, tc := range []struct {
		name string
		r    worker.Replacement
	}{
		{"empty run id", worker.Replacement{Day: day, CreatedAt: time.Now(), Produce: produce}},
		{"zero created_at", worker.Replacement{Day: day, RunID: "r", Produce: produce}},
		{"invalid day", worker.Replacement{Day: civil.Date{Year: 2026, Month: 2, Day: 30}, RunID: "r", CreatedAt: time.Now(), Produce: produce}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.ReplaceTurns(context.Background(), tc.r)
			if err == nil || worker.ClassOf(err) != worker.Permanent {
				t.Errorf("ReplaceTurns error = %v, want a permanent error", err)
			}
		})
	}
}

// TestImportConversationRows checks the derived columns of the
// conversations table, which the read path does not return.
func TestImportConversationRows(t *testing.T) {
	w := openTest(t, Options{}, false)
	now := time.Date(2026, 1, 22, 8, 0, 0, 0, time.FixedZone("X", -3*3600))
	w.now = func() time.Time { return now }
	t1 := time.Date(2026, 1, 21, 23, 0, 0, 0, time.UTC)
	r := &sliceReader{convs: []ingest.Conversation{
		{ConversationID: "c1", Source: "openai", Title: "first", Metadata: []byte(`{"a": [1, 2]}`), Messages: []ingest.MessageRow{
			{MessageID: "m1", HasSeq: true, Seq: 0, CreatedAt: t1.Add(time.Hour)},
			{MessageID: "m2", HasSeq: true, Seq: 1}, // no time
		}},
		{ConversationID: "c2", Source: "sharegpt"}, // no title, metadata or messages
		{ConversationID: "c1", Source: "other", Title: "second", Messages: []ingest.MessageRow{
			{MessageID: "m3", CreatedAt: t1},
		}},
	}}
	if _, err := w.Import(context.Background(), day, "run-5", r); err != nil {
		t.Fatal(err)
	}
	type convRow struct {
		ID, Source, Title, Metadata, RunID string
		StartedAt                          sql.NullTime
		Count                              int64
		Date, CreatedAt                    time.Time
	}
	rows, err := w.db.Query(`SELECT conversation_id, source, coalesce(title, '<NULL>'), coalesce(CAST(metadata AS VARCHAR), '<NULL>'),
		run_id, started_at, message_count, ingestion_date, created_at FROM conversations ORDER BY conversation_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []convRow
	for rows.Next() {
		var c convRow
		if err := rows.Scan(&c.ID, &c.Source, &c.Title, &c.Metadata, &c.RunID, &c.StartedAt, &c.Count, &c.Date, &c.CreatedAt); err != nil {
			t.Fatal(err)
		}
		got = append(got, c)
	}
	dayTime := time.Date(2026, 1, 22, 0, 0, 0, 0, time.UTC)
	want := []convRow{
		{ID: "c1", Source: "openai", Title: "first", Metadata: `{"a": [1, 2]}`, RunID: "run-5",
			StartedAt: sql.NullTime{Time: t1, Valid: true}, Count: 3, Date: dayTime, CreatedAt: now},
		{ID: "c2", Source: "sharegpt", Title: "<NULL>", Metadata: "<NULL>", RunID: "run-5", Count: 0, Date: dayTime, CreatedAt: now},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("conversations rows (-want +got):\n%s", diff)
	}
}

func TestImportRejectsBadInput(t *testing.T) {
	good := ingest.MessageRow{MessageID: "m", ConversationID: "c"}
	for _, tc := range []struct {
		name string
		conv ingest.Conversation
		want string
	}{
		{"empty conversation id", ingest.Conversation{Source: "s"}, "conversation 1 of the input: empty conversation id"},
		{"empty source", ingest.Conversation{ConversationID: "c"}, `conversation 1 (id "c") of the input: empty source`},
		{"conversation metadata not JSON", ingest.Conversation{ConversationID: "c", Source: "s", Metadata: []byte("{x")}, "metadata is not valid JSON"},
		{"empty message id", ingest.Conversation{ConversationID: "c", Source: "s", Messages: []ingest.MessageRow{good, {}}}, "message 1 has an empty message id"},
		{"message of another conversation", ingest.Conversation{ConversationID: "c", Source: "s", Messages: []ingest.MessageRow{{MessageID: "m", ConversationID: "d"}}}, `message "m" names conversation "d"`},
		{"message metadata not JSON", ingest.Conversation{ConversationID: "c", Source: "s", Messages: []ingest.MessageRow{{MessageID: "m", Metadata: []byte("nope")}}}, `metadata of message "m" is not valid JSON`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := openTest(t, Options{}, false)
			r := &sliceReader{convs: []ingest.Conversation{{ConversationID: "ok", Source: "s", Messages: []ingest.MessageRow{{MessageID: "x"}}}, tc.conv}}
			_, err := w.Import(context.Background(), day, "run", r)
			if err == nil {
				t.Fatal("Import accepted bad input")
			}
			if worker.ClassOf(err) != worker.Permanent {
				t.Errorf("class = %s, want permanent: %v", worker.ClassOf(err), err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if n := countRows(t, w, "conversations") + countRows(t, w, "messages"); n != 0 {
				t.Errorf("%d rows stored by a failed import, want 0", n)
			}
		})
	}
}

// TestReadRepeatedConversationRow: a partition whose conversations table
// holds one conversation twice (written by something else than an import)
// still hands the conversation out once, with each message once.
func TestReadRepeatedConversationRow(t *testing.T) {
	w := openTest(t, Options{}, false)
	r := &sliceReader{convs: []ingest.Conversation{{ConversationID: "c1", Source: "s", Messages: []ingest.MessageRow{
		{MessageID: "m1", Seq: 0, HasSeq: true}, {MessageID: "m2", Seq: 1, HasSeq: true},
	}}}}
	if _, err := w.Import(context.Background(), day, "run", r); err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.Exec(`INSERT INTO conversations SELECT * FROM conversations`); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, w, day)
	want := []readConv{{ID: "c1", Msgs: []turns.Message{
		{MessageID: "m1", ConversationID: "c1", HasSeq: true},
		{MessageID: "m2", ConversationID: "c1", Seq: 1, HasSeq: true},
	}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadConversations (-want +got):\n%s", diff)
	}
}

// --- helpers ---

type sliceReader struct {
	convs []ingest.Conversation
	i     int
}

func (r *sliceReader) Next() (*ingest.Conversation, error) {
	if r.i >= len(r.convs) {
		return nil, io.EOF
	}
	r.i++
	return &r.convs[r.i-1], nil
}

func mustReplace(tb testing.TB, w *Warehouse, d civil.Date, ts []turns.Turn) {
	tb.Helper()
	_, err := w.ReplaceTurns(context.Background(), worker.Replacement{
		Day: d, RunID: "run", CreatedAt: time.Now(),
		Produce: func(_ context.Context, put worker.Put) error {
			for i := range ts {
				if err := put(&ts[i]); err != nil {
					return err
				}
			}
			return nil
		},
		Check: func(worker.OutputInfo) error { return nil },
	})
	if err != nil {
		tb.Fatalf("ReplaceTurns: %v", err)
	}
}

// countExported counts the partition's turns through ExportTurns, which
// reads on a connection of its own.
func countExported(tb testing.TB, w *Warehouse, d civil.Date) int64 {
	tb.Helper()
	var n int64
	if err := w.ExportTurns(context.Background(), d, func(*turns.Row) error { n++; return nil }); err != nil {
		tb.Fatalf("ExportTurns: %v", err)
	}
	return n
}

func countRows(tb testing.TB, w *Warehouse, table string) int64 {
	tb.Helper()
	var n int64
	if err := w.db.QueryRow("SELECT count(*) FROM " + quote(table)).Scan(&n); err != nil {
		tb.Fatalf("count %s: %v", table, err)
	}
	return n
}

// TestSameFileSharesPartitionLocks replaces an empty partition through two
// Warehouses on the same file at once: duckdb-go gives them one database,
// and the partition must hold one set, not both.
func TestSameFileSharesPartitionLocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.duckdb")
	w1 := openTest(t, Options{Path: path}, false)
	w2 := openTest(t, Options{Path: path}, false)
	var entered atomic.Int32
	both := make(chan struct{})
	replace := func(w *Warehouse, run string) error {
		_, err := w.ReplaceTurns(context.Background(), worker.Replacement{
			Day: day, RunID: run, CreatedAt: time.Now(),
			Produce: func(_ context.Context, put worker.Put) error {
				if entered.Add(1) == 2 {
					close(both)
				}
				select { // the second waits for the first to finish
				case <-both:
				case <-time.After(300 * time.Millisecond):
				}
				return put(&turns.Turn{TurnID: run, ParentID: "p"})
			},
		})
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = replace(w1, "run-1") })
	wg.Go(func() { errs[1] = replace(w2, "run-2") })
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("replacements: %v", err)
	}
	if n := countExported(t, w1, day); n != 1 {
		t.Errorf("partition holds %d turns, want the 1 of the last replacement", n)
	}
}

// TestTextColumnsUseZstd: the long text columns are stored with zstd, which
// measured faster to write and smaller than DuckDB's own choice.
func TestTextColumnsUseZstd(t *testing.T) {
	w := openTest(t, Options{}, false)
	for _, q := range []string{
		`INSERT INTO turns (turn_id, parent_id, turn_index, user_text, response_text, ingestion_date, created_at, run_id)
		 SELECT 't' || i, 'p', i, repeat('user words ', 20) || i, repeat('answer words ', 30) || i, DATE '2026-01-22', now(), 'r'
		 FROM range(5000) r(i)`,
		`INSERT INTO messages (message_id, conversation_id, content, ingestion_date)
		 SELECT 'm' || i, 'c', repeat('message words ', 20) || i, DATE '2026-01-22' FROM range(5000) r(i)`,
		`CHECKPOINT`,
	} {
		if _, err := w.db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ table, column string }{
		{"turns", "user_text"}, {"turns", "response_text"}, {"messages", "content"},
	} {
		var compression string
		err := w.db.QueryRow(`SELECT string_agg(DISTINCT compression, ',') FROM pragma_storage_info('`+tc.table+`')
			WHERE column_name = ? AND segment_type = 'VARCHAR'`, tc.column).Scan(&compression)
		if err != nil {
			t.Fatal(err)
		}
		if compression != "ZSTD" {
			t.Errorf("%s.%s is stored with %q, want ZSTD", tc.table, tc.column, compression)
		}
	}
}
