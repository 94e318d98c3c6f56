package duckdb

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/turnstile-dev/turnstile/internal/turns"
	"github.com/turnstile-dev/turnstile/worker"
)

// ReplaceTurns replaces the partition r.Day of the turns table in one
// transaction: it deletes the partition, appends the turns r.Produce puts,
// counts what the partition then holds, calls r.Check with it and commits
// only when Check returns nil. On any error (from Produce, Check, DuckDB or
// ctx) it rolls back and the previous partition stays; errors of Produce and
// Check come back as they were returned.
//
// Replacements of the same partition in this process run one after the
// other (see lock.go). A write that conflicts with another transaction on
// the partition fails with a retryable error. r.Produce may read the
// warehouse: the replacement's transaction has a connection of its own.
func (w *Warehouse) ReplaceTurns(ctx context.Context, r worker.Replacement) (worker.ReplaceInfo, error) {
	switch {
	case r.RunID == "":
		return worker.ReplaceInfo{}, badInput("replace partition %s of table %s: empty run id", r.Day, w.turnsTable)
	case r.CreatedAt.IsZero():
		return worker.ReplaceInfo{}, badInput("replace partition %s of table %s (run %s): zero created_at", r.Day, w.turnsTable, r.RunID)
	case !r.Day.IsValid():
		return worker.ReplaceInfo{}, badInput("replace partition %s of table %s (run %s): invalid date", r.Day, w.turnsTable, r.RunID)
	}
	out, err := w.replaceTurns(ctx, r)
	var cb callbackError
	switch {
	case err == nil:
		return worker.ReplaceInfo{Output: out}, nil
	case errors.As(err, &cb):
		return worker.ReplaceInfo{}, cb.err
	default:
		return worker.ReplaceInfo{}, classify(fmt.Errorf("replace partition %s of table %s (run %s): %w", r.Day, w.turnsTable, r.RunID, err))
	}
}

func (w *Warehouse) replaceTurns(ctx context.Context, r worker.Replacement) (worker.OutputInfo, error) {
	var out worker.OutputInfo
	unlock, err := w.lockPartition(ctx, w.turnsTable, r.Day)
	if err != nil {
		return out, fmt.Errorf("wait for another write of the partition: %w", err)
	}
	defer unlock()

	tx, err := w.beginWrite(ctx)
	if err != nil {
		return out, err
	}
	defer tx.rollback(ctx)

	d := dateArg(r.Day)
	if _, err := tx.exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE ingestion_date = CAST(? AS DATE)", quote(w.turnsTable)), d); err != nil {
		return out, fmt.Errorf("delete old turns: %w", err)
	}

	err = tx.appenders(ctx, []appenderSpec{w.turnsAppender()}, func(a []*duckdb.Appender) error {
		tw := turnWriter{
			app:       a[0],
			day:       r.Day.In(time.UTC),
			createdAt: r.CreatedAt.UTC(),
			runID:     r.RunID,
		}
		if err := r.Produce(ctx, tw.put); err != nil {
			if tw.err != nil { // Produce passed on what put returned
				return tw.err
			}
			return callbackError{err}
		}
		return ctx.Err()
	})
	if err != nil {
		return out, err
	}

	count := fmt.Sprintf(`
		SELECT count(*), count(*) FILTER (WHERE c.conversation_id IS NULL)
		FROM %[1]s t
		LEFT JOIN (SELECT DISTINCT conversation_id FROM %[2]s WHERE ingestion_date = CAST(? AS DATE)) c
		       ON c.conversation_id = t.parent_id
		WHERE t.ingestion_date = CAST(? AS DATE)`,
		quote(w.turnsTable), quote(w.conversations))
	if err := tx.conn.QueryRowContext(ctx, count, d, d).Scan(&out.Rows, &out.UnknownParents); err != nil {
		return out, fmt.Errorf("count written turns: %w", err)
	}
	if r.Check != nil {
		if err := r.Check(out); err != nil {
			return out, callbackError{err}
		}
	}
	if err := ctx.Err(); err != nil {
		return out, err
	}
	return out, tx.commit(ctx)
}

// turnsAppender appends rows of the turns table through DuckDB's query
// appender: the rows are batched as a relation whose metadata column is
// VARCHAR, and inserted with a cast to JSON. A plain appender on the table
// would pass metadata through duckdb-go's JSON encoder, a second encoding
// that took a third of the append time.
func (w *Warehouse) turnsAppender() appenderSpec {
	return appenderSpec{name: w.turnsTable, open: func(c driver.Conn) (*duckdb.Appender, error) {
		types := make([]duckdb.TypeInfo, len(turnsColumns))
		for i, col := range turnsColumns {
			var err error
			if types[i], err = typeInfo(col.dataType); err != nil {
				return nil, err
			}
		}
		q := fmt.Sprintf("INSERT INTO %s SELECT * FROM appended_data", quote(w.turnsTable))
		return duckdb.NewQueryAppender(c, q, "", types, nil)
	}}
}

// typeInfo is the DuckDB type of a column type of the schema, with JSON
// as VARCHAR.
func typeInfo(dataType string) (duckdb.TypeInfo, error) {
	if elem, ok := strings.CutSuffix(dataType, "[]"); ok {
		t, err := typeInfo(elem)
		if err != nil {
			return nil, err
		}
		return duckdb.NewListInfo(t)
	}
	var t duckdb.Type
	switch dataType {
	case "VARCHAR", "JSON":
		t = duckdb.TYPE_VARCHAR
	case "BIGINT":
		t = duckdb.TYPE_BIGINT
	case "BOOLEAN":
		t = duckdb.TYPE_BOOLEAN
	case "DATE":
		t = duckdb.TYPE_DATE
	case "TIMESTAMP WITH TIME ZONE":
		t = duckdb.TYPE_TIMESTAMP_TZ
	default:
		return nil, fmt.Errorf("no appender type for %s", dataType)
	}
	return duckdb.NewTypeInfo(t)
}

// turnWriter appends turns as rows of the turns table.
type turnWriter struct {
	app       *duckdb.Appender
	day       time.Time
	createdAt time.Time
	runID     string
	users     []any // reused list buffers: the appender copies values
	responses []any
	err       error // the first error put returned
}

func (tw *turnWriter) put(t *turns.Turn) error {
	if tw.err == nil {
		tw.err = tw.append(t)
	}
	return tw.err
}

func (tw *turnWriter) append(t *turns.Turn) error {
	meta, err := json.Marshal(t.Metadata)
	if err != nil {
		return fmt.Errorf("encode metadata of turn %s: %w", t.TurnID, err)
	}
	tw.users = appendStrings(tw.users[:0], t.UserMessageIDs)
	tw.responses = appendStrings(tw.responses[:0], t.ResponseMessageIDs)
	var latency any
	if t.HasLatency {
		latency = t.ResponseLatencyMS
	}
	err = tw.app.AppendRow(
		t.TurnID,
		t.ParentID,
		t.TurnIndex,
		tw.users,
		tw.responses,
		t.UserText,
		t.ResponseText,
		nullTime(t.StartedAt),
		nullTime(t.EndedAt),
		latency,
		t.IsComplete,
		meta,
		tw.day,
		tw.createdAt,
		tw.runID,
	)
	if err != nil {
		return fmt.Errorf("append turn %s of conversation %s: %w", t.TurnID, t.ParentID, err)
	}
	return nil
}

func appendStrings(dst []any, src []string) []any {
	for _, s := range src {
		dst = append(dst, s)
	}
	return dst
}

// nullTime is NULL for the zero time, else the time in UTC.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}
