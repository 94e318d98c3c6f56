package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/turnstile-dev/turnstile/worker"
)

// column is one column of SPEC §2 in DuckDB's types. dataType is spelled as
// information_schema.columns reports it.
type column struct {
	name     string
	dataType string
	notNull  bool
}

// zstdColumns are stored with zstd compression instead of DuckDB's own
// choice. For these long text columns it is both faster to write and
// smaller: writing the 392k turns of 1M generated messages into a new table
// took 5.6 s and 182 MB with DuckDB's choice, 3.1 s and 73 MB with zstd on
// user_text and response_text.
var zstdColumns = map[string]bool{"content": true, "user_text": true, "response_text": true}

var messagesColumns = []column{
	{"message_id", "VARCHAR", true},
	{"conversation_id", "VARCHAR", true},
	{"seq", "BIGINT", false},
	{"role", "VARCHAR", false},
	{"content", "VARCHAR", false},
	{"created_at", "TIMESTAMP WITH TIME ZONE", false},
	{"metadata", "JSON", false},
	{"ingestion_date", "DATE", true},
}

var conversationsColumns = []column{
	{"conversation_id", "VARCHAR", true},
	{"source", "VARCHAR", true},
	{"title", "VARCHAR", false},
	{"started_at", "TIMESTAMP WITH TIME ZONE", false},
	{"message_count", "BIGINT", false},
	{"metadata", "JSON", false},
	{"ingestion_date", "DATE", true},
	{"created_at", "TIMESTAMP WITH TIME ZONE", true},
	{"run_id", "VARCHAR", false},
}

var turnsColumns = []column{
	{"turn_id", "VARCHAR", true},
	{"parent_id", "VARCHAR", true},
	{"turn_index", "BIGINT", true},
	{"user_message_ids", "VARCHAR[]", false},
	{"response_message_ids", "VARCHAR[]", false},
	{"user_text", "VARCHAR", false},
	{"response_text", "VARCHAR", false},
	{"started_at", "TIMESTAMP WITH TIME ZONE", false},
	{"ended_at", "TIMESTAMP WITH TIME ZONE", false},
	{"response_latency_ms", "BIGINT", false},
	{"is_complete", "BOOLEAN", false},
	{"metadata", "JSON", false},
	{"ingestion_date", "DATE", true},
	{"created_at", "TIMESTAMP WITH TIME ZONE", true},
	{"run_id", "VARCHAR", true},
}

type tableDef struct {
	name    string
	columns []column
}

func (w *Warehouse) tables() []tableDef {
	return []tableDef{
		{w.messages, messagesColumns},
		{w.conversations, conversationsColumns},
		{w.turnsTable, turnsColumns},
	}
}

// Partitioning. Every table is "partitioned" by ingestion_date through the
// order its rows are written in, not through an index: an import appends a
// partition's rows together (messages sorted by conversation_id), and a
// replacement deletes one partition and appends it again in parent_id
// order. Each row group (122,880 rows) therefore holds few dates, and its
// zone map (min/max per column) lets a scan for one day skip the others
// (a count over one of four partitions of 1M turns scanned 10 of 40 row
// groups) and a read batch skip the other conversations.
//
// An ART index on ingestion_date was measured and rejected. DuckDB uses an
// ART only for lookups matching few rows, never to scan a partition, so it
// did not speed up any read, while every bulk append and delete maintains
// it, in memory: replacing a partition of 1M turns among four took 6.7 s
// (median of six) with the index and 5.4 s without. At 50,000 turns
// (BenchmarkPartitionIndex) the two are within noise.

func createTableSQL(t tableDef) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s (", quote(t.name))
	for i, c := range t.columns {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", quote(c.name), c.dataType)
		if c.notNull {
			b.WriteString(" NOT NULL")
		}
		if zstdColumns[c.name] {
			b.WriteString(" USING COMPRESSION zstd")
		}
	}
	b.WriteString(")")
	return b.String()
}

// EnsureSchema creates the tables that do not exist yet and returns their
// names. It is idempotent. A table that exists with other columns (a missing
// column, another type or nullability) is a permanent error naming the
// difference: EnsureSchema never alters or drops a table.
func (w *Warehouse) EnsureSchema(ctx context.Context) (created []string, err error) {
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("ensure schema in %s: %w", w.path, err)
	}
	defer tx.Rollback()
	for _, t := range w.tables() {
		have, err := tableColumns(ctx, tx, t.name)
		if err != nil {
			return nil, fmt.Errorf("ensure schema of table %s: %w", t.name, err)
		}
		if have == nil {
			if _, err := tx.ExecContext(ctx, createTableSQL(t)); err != nil {
				return nil, fmt.Errorf("ensure schema: create table %s: %w", t.name, err)
			}
			created = append(created, t.name)
			continue
		}
		if err := compareColumns(t, have); err != nil {
			return nil, worker.MarkPermanent(fmt.Errorf("ensure schema of table %s: %w", t.name, err))
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, classify(fmt.Errorf("ensure schema in %s: commit: %w", w.path, err))
	}
	return created, nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// tableColumns returns the columns of a table of the main schema, nil when
// the table does not exist.
func tableColumns(ctx context.Context, q queryer, table string) ([]column, error) {
	rows, err := q.QueryContext(ctx, `
		SELECT column_name, data_type, is_nullable = 'NO'
		FROM information_schema.columns
		WHERE table_catalog = current_database() AND table_schema = 'main' AND table_name = ?
		ORDER BY ordinal_position`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.dataType, &c.notNull); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

// compareColumns reports how have differs from want. Rows are appended
// positionally, so the order of the columns matters too.
func compareColumns(want tableDef, have []column) error {
	byName := make(map[string]column, len(have))
	for _, c := range have {
		byName[c.name] = c
	}
	var problems []string
	for i, c := range want.columns {
		h, ok := byName[c.name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("column %s is missing", c.name))
		case !strings.EqualFold(h.dataType, c.dataType):
			problems = append(problems, fmt.Sprintf("column %s is %s, want %s", c.name, h.dataType, c.dataType))
		case h.notNull != c.notNull:
			problems = append(problems, fmt.Sprintf("column %s has NOT NULL %t, want %t", c.name, h.notNull, c.notNull))
		case i >= len(have) || have[i].name != c.name:
			problems = append(problems, fmt.Sprintf("column %s is not column %d", c.name, i+1))
		}
		delete(byName, c.name)
	}
	for _, h := range have {
		if _, extra := byName[h.name]; extra {
			problems = append(problems, fmt.Sprintf("column %s is not expected", h.name))
		}
	}
	if len(problems) > 0 {
		return errors.New("table exists with another schema: " + strings.Join(problems, "; "))
	}
	return nil
}
