package bigquery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"google.golang.org/api/iterator"

	"github.com/turnstile-dev/turnstile/internal/turns"
)

// ExportTurns calls fn with each turn of partition day, ordered by
// parent_id and turn_index, and stops at the first error fn returns (and
// returns it). It is one query job; results are read page by page (through
// the Storage Read API when available). The *turns.Row is reused between
// calls; its slices are not, so a copy of the Row may be kept.
func (w *Warehouse) ExportTurns(ctx context.Context, day civil.Date, fn func(*turns.Row) error) error {
	const op = "export turns"
	table := w.TurnsTableName()
	job, _, err := w.query(ctx, "export", day, w.sql.export, dayParam(day))
	if err != nil {
		return classify(err, op, table, day, jobIDOf(job))
	}
	rj, err := w.resultReader(ctx, job)
	if err != nil {
		return classify(err, op, table, day, job.ID())
	}
	it, err := rj.Read(ctx)
	if err != nil {
		return classify(err, op, table, day, job.ID())
	}
	it.PageInfo().MaxSize = w.opts.PageRows
	var (
		row     []bigquery.Value
		tr      turns.Row
		checked bool
	)
	for {
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return classify(err, op, table, day, job.ID())
		}
		if !checked {
			if err := checkColumns(it.Schema, turnsColumns()); err != nil {
				return classify(err, op, table, day, job.ID())
			}
			checked = true
		}
		if err := decodeTurn(&tr, row); err != nil {
			return classify(err, op, table, day, job.ID())
		}
		if err := fn(&tr); err != nil {
			return err
		}
	}
}

// checkColumns reports whether schema has exactly the columns want.
func checkColumns(schema bigquery.Schema, want []string) error {
	if len(schema) != len(want) {
		return fmt.Errorf("result has %d columns, want %d", len(schema), len(want))
	}
	for i, f := range schema {
		if f.Name != want[i] {
			return fmt.Errorf("result column %d is %q, want %q", i, f.Name, want[i])
		}
	}
	return nil
}

// decodeTurn sets tr from a row of the export query.
func decodeTurn(tr *turns.Row, row []bigquery.Value) error {
	*tr = turns.Row{}
	tr.TurnID, _ = row[exTurnID].(string)
	tr.ParentID, _ = row[exParentID].(string)
	tr.TurnIndex, _ = row[exTurnIndex].(int64)
	tr.UserMessageIDs = stringsOf(row[exUserMessageIDs])
	tr.ResponseMessageIDs = stringsOf(row[exResponseMessageIDs])
	tr.UserText, _ = row[exUserText].(string)
	tr.ResponseText, _ = row[exResponseText].(string)
	tr.StartedAt, _ = row[exStartedAt].(time.Time)
	tr.EndedAt, _ = row[exEndedAt].(time.Time)
	tr.ResponseLatencyMS, tr.HasLatency = row[exLatency].(int64)
	tr.IsComplete, _ = row[exIsComplete].(bool)
	if s, ok := row[exMetadata].(string); ok && s != "" {
		if err := json.Unmarshal([]byte(s), &tr.Metadata); err != nil {
			return fmt.Errorf("turn %s: metadata: %w", tr.TurnID, err)
		}
	}
	tr.IngestionDate, _ = row[exIngestionDate].(civil.Date)
	tr.CreatedAt, _ = row[exCreatedAt].(time.Time)
	tr.RunID, _ = row[exRunID].(string)
	return nil
}

// stringsOf converts a REPEATED STRING value; NULL and empty are nil.
func stringsOf(v bigquery.Value) []string {
	vs, _ := v.([]bigquery.Value)
	if len(vs) == 0 {
		return nil
	}
	out := make([]string, len(vs))
	for i, s := range vs {
		out[i], _ = s.(string)
	}
	return out
}
