package duckdb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/turnstile-dev/turnstile/internal/identity"
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
//
// The list columns are batched as VARCHAR too, each element preceded by
// U+001F (see joinList), and split back into lists by the INSERT: duckdb-go
// fills a list vector element by element, which cost more than the split
// (BenchmarkReplaceTurns: 460 ms before, 410 ms after).
func (w *Warehouse) turnsAppender() appenderSpec {
	return appenderSpec{name: w.turnsTable, open: func(c driver.Conn) (*duckdb.Appender, error) {
		types := make([]duckdb.TypeInfo, len(turnsColumns))
		names := make([]string, len(turnsColumns))
		exprs := make([]string, len(turnsColumns))
		for i, col := range turnsColumns {
			dataType, expr := col.dataType, quote(col.name)
			if dataType == "VARCHAR[]" {
				dataType = "VARCHAR"
				expr = fmt.Sprintf("string_split(%s, chr(%d))[2:]", expr, listSeparator)
			}
			var err error
			if types[i], err = typeInfo(dataType); err != nil {
				return nil, err
			}
			names[i], exprs[i] = col.name, expr
		}
		q := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM appended_data",
			quote(w.turnsTable), quoteAll(names), strings.Join(exprs, ", "))
		return duckdb.NewQueryAppender(c, q, "", types, names)
	}}
}

// listSeparator precedes each element of a list column in the batch. Ids
// may not contain it (SPEC §3): the first message id of a turn is checked
// when its turn id is built, and joinList checks the others.
const listSeparator = identity.Separator

// joinList appends ids to dst, each preceded by listSeparator, so that the
// empty list is "" and [""] is "\x1f". An id that contains the separator
// is an error: it would come back split in two.
func joinList(dst []byte, ids []string) ([]byte, error) {
	for _, id := range ids {
		if strings.IndexByte(id, listSeparator) >= 0 {
			return dst, fmt.Errorf("message id %q contains U+001F, which ids may not contain", id)
		}
		dst = append(dst, listSeparator)
		dst = append(dst, id...)
	}
	return dst, nil
}

// quoteAll quotes names and joins them with commas.
func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quote(n)
	}
	return strings.Join(q, ", ")
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
	users     []byte // reused buffers: the appender copies values
	responses []byte
	meta      []byte
	err       error // the first error put returned
}

func (tw *turnWriter) put(t *turns.Turn) error {
	if tw.err == nil {
		tw.err = tw.append(t)
	}
	return tw.err
}

func (tw *turnWriter) append(t *turns.Turn) error {
	tw.meta = appendMetadata(tw.meta[:0], &t.Metadata)
	var err error
	if tw.users, err = joinList(tw.users[:0], t.UserMessageIDs); err == nil {
		tw.responses, err = joinList(tw.responses[:0], t.ResponseMessageIDs)
	}
	if err != nil {
		return badInput("turn %s of conversation %s: %w", t.TurnID, t.ParentID, err)
	}
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
		tw.meta,
		tw.day,
		tw.createdAt,
		tw.runID,
	)
	if err != nil {
		return fmt.Errorf("append turn %s of conversation %s: %w", t.TurnID, t.ParentID, err)
	}
	return nil
}

// appendMetadata appends m encoded as json.Marshal encodes it: the fields
// in declaration order, no spaces. It spares json.Marshal's reflection and
// allocation for every turn.
func appendMetadata(dst []byte, m *turns.Metadata) []byte {
	dst = append(dst, `{"user_messages":`...)
	dst = strconv.AppendInt(dst, int64(m.UserMessages), 10)
	dst = append(dst, `,"assistant_messages":`...)
	dst = strconv.AppendInt(dst, int64(m.AssistantMessages), 10)
	dst = append(dst, `,"tool_messages":`...)
	dst = strconv.AppendInt(dst, int64(m.ToolMessages), 10)
	dst = append(dst, `,"system_messages":`...)
	dst = strconv.AppendInt(dst, int64(m.SystemMessages), 10)
	dst = append(dst, `,"user_chars":`...)
	dst = strconv.AppendInt(dst, int64(m.UserChars), 10)
	dst = append(dst, `,"response_chars":`...)
	dst = strconv.AppendInt(dst, int64(m.ResponseChars), 10)
	dst = append(dst, `,"assistant_initiated":`...)
	dst = strconv.AppendBool(dst, m.AssistantInitiated)
	return append(dst, '}')
}

// nullTime is NULL for the zero time, else the time in UTC.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}
