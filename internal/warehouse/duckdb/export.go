package duckdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/civil"

	"github.com/turnstile-dev/turnstile/internal/turns"
)

// ExportTurns calls fn with every turn of the partition, ordered by
// parent_id then turn_index. Like ReadConversations it reads in batches of
// whole conversations in one transaction. fn receives the same *turns.Row each time,
// overwritten: it must not keep it (or its slices' backing arrays, which
// are fresh per row and may be kept) beyond the call. Timestamps and the
// date are in UTC; empty arrays come back as nil; a NULL metadata is the
// zero Metadata. ExportTurns stops at the first error fn returns and returns
// that error.
func (w *Warehouse) ExportTurns(ctx context.Context, day civil.Date, fn func(*turns.Row) error) error {
	err := w.exportTurns(ctx, day, fn)
	var cb callbackError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &cb):
		return cb.err
	default:
		return classify(fmt.Errorf("export partition %s of table %s: %w", day, w.turnsTable, err))
	}
}

func (w *Warehouse) exportTurns(ctx context.Context, day civil.Date, fn func(*turns.Row) error) error {
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // read only: nothing to commit
	d := dateArg(day)
	weights := fmt.Sprintf(`
		SELECT parent_id, sum(coalesce(strlen(user_text), 0) + coalesce(strlen(response_text), 0) + %d)
		FROM %s WHERE ingestion_date = CAST(? AS DATE) GROUP BY parent_id`, batchRowBytes, quote(w.turnsTable))
	bounds, err := w.batchBounds(ctx, tx, weights, d)
	if err != nil {
		return err
	}
	query := func(lower string) string {
		return fmt.Sprintf(`
		SELECT turn_id, parent_id, turn_index, user_message_ids, response_message_ids,
		       user_text, response_text, started_at, ended_at, response_latency_ms,
		       is_complete, CAST(metadata AS VARCHAR), ingestion_date, created_at, run_id
		FROM %s WHERE ingestion_date = CAST(? AS DATE) %s AND parent_id <= ?
		ORDER BY parent_id, turn_index`, quote(w.turnsTable), lower)
	}
	args := func(bound ...any) []any { return append([]any{d}, bound...) }
	var s rowScanner
	return forEachBatch(ctx, tx, bounds, "parent_id", query, args, func(rows *sql.Rows) error {
		for rows.Next() {
			if err := s.scan(rows); err != nil {
				return err
			}
			if err := fn(&s.row); err != nil {
				return callbackError{err}
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read turns: %w", err)
		}
		return nil
	})
}

// rowScanner scans rows of the turns table into row.
type rowScanner struct {
	row                    turns.Row
	users, responses       any
	userText, responseText sql.NullString
	startedAt, endedAt     sql.NullTime
	latency                sql.NullInt64
	complete               sql.NullBool
	meta                   sql.NullString
	ingestionDate          time.Time
}

func (s *rowScanner) scan(rows *sql.Rows) error {
	r := &s.row
	*r = turns.Row{}
	err := rows.Scan(&r.TurnID, &r.ParentID, &r.TurnIndex, &s.users, &s.responses,
		&s.userText, &s.responseText, &s.startedAt, &s.endedAt, &s.latency,
		&s.complete, &s.meta, &s.ingestionDate, &r.CreatedAt, &r.RunID)
	if err != nil {
		return fmt.Errorf("scan turn: %w", err)
	}
	if r.UserMessageIDs, err = toStrings(s.users); err != nil {
		return fmt.Errorf("turn %s: user_message_ids: %w", r.TurnID, err)
	}
	if r.ResponseMessageIDs, err = toStrings(s.responses); err != nil {
		return fmt.Errorf("turn %s: response_message_ids: %w", r.TurnID, err)
	}
	r.UserText, r.ResponseText = s.userText.String, s.responseText.String
	if s.startedAt.Valid {
		r.StartedAt = s.startedAt.Time.UTC()
	}
	if s.endedAt.Valid {
		r.EndedAt = s.endedAt.Time.UTC()
	}
	r.ResponseLatencyMS, r.HasLatency = s.latency.Int64, s.latency.Valid
	r.IsComplete = s.complete.Bool
	if s.meta.Valid {
		if err := json.Unmarshal([]byte(s.meta.String), &r.Metadata); err != nil {
			return fmt.Errorf("turn %s: metadata: %w", r.TurnID, err)
		}
	}
	r.IngestionDate = civil.DateOf(s.ingestionDate)
	r.CreatedAt = r.CreatedAt.UTC()
	return nil
}

// toStrings converts a VARCHAR[] value; NULL and empty lists are nil.
func toStrings(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%T is not a list", v)
	}
	if len(list) == 0 {
		return nil, nil
	}
	out := make([]string, len(list))
	for i, v := range list {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("element %d is %T, not a string", i, v)
		}
		out[i] = s
	}
	return out, nil
}
