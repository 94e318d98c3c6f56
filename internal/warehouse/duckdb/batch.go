package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
)

// Reading a partition in batches.
//
// duckdb-go materialises a query's whole result before the first row is
// read, whatever memory_limit says: one sorted query over a partition of 4
// million messages took 4.7 GB of RSS. The reads that stream a partition
// (ReadConversations, ExportTurns) therefore cut it into batches of whole
// groups (conversations), consecutive in key order, each of about
// readBatchBytes of text, and run one sorted query per batch, all in one
// transaction. A batch's result, join and sort take about three times its
// text in DuckDB; a group larger than a batch is a batch of its own.
//
// Each batch query filters on a key range. Imports write messages sorted
// by conversation_id and replacements write turns in parent_id order, so
// zone maps skip the row groups outside the range; on a partition written
// in random order each batch scans the partition's key column.

const (
	// defaultReadBatchBytes is the text one batch aims at.
	defaultReadBatchBytes = 32 << 20
	// batchRowBytes is what a row weighs beyond its text.
	batchRowBytes = 100
)

// batchBounds returns the last key of each batch, ascending. weights is a
// query returning one row (key, bytes) per group of the partition; a batch
// is a run of groups in key order whose bytes first reach the warehouse's
// readBatchBytes.
func (w *Warehouse) batchBounds(ctx context.Context, tx queryer, weights string, args ...any) ([]string, error) {
	q := fmt.Sprintf(`
		WITH k(key, bytes) AS (%s),
		r AS (SELECT key, sum(bytes) OVER (ORDER BY key ROWS UNBOUNDED PRECEDING) AS cum FROM k)
		SELECT max(key) AS hi FROM r GROUP BY cum // %d ORDER BY hi`, weights, w.readBatchBytes)
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("plan batches: %w", err)
	}
	defer rows.Close()
	var bounds []string
	for rows.Next() {
		var hi string
		if err := rows.Scan(&hi); err != nil {
			return nil, fmt.Errorf("plan batches: %w", err)
		}
		bounds = append(bounds, hi)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("plan batches: %w", err)
	}
	return bounds, nil
}

// forEachBatch runs one query per batch and hands its rows to fn. query
// returns the batch query given the lower bound condition to insert ("" in
// the first batch, else "AND <key> > ?"); args returns its arguments given
// the bound arguments (lo, hi), or (hi) in the first batch.
func forEachBatch(ctx context.Context, tx *sql.Tx, bounds []string, key string,
	query func(lower string) string, args func(bound ...any) []any, fn func(*sql.Rows) error) error {
	if len(bounds) == 0 {
		return nil
	}
	first, err := tx.PrepareContext(ctx, query(""))
	if err != nil {
		return fmt.Errorf("prepare batch query: %w", err)
	}
	defer first.Close()
	next, err := tx.PrepareContext(ctx, query("AND "+key+" > ?"))
	if err != nil {
		return fmt.Errorf("prepare batch query: %w", err)
	}
	defer next.Close()
	for i, hi := range bounds {
		var rows *sql.Rows
		if i == 0 {
			rows, err = first.QueryContext(ctx, args(hi)...)
		} else {
			rows, err = next.QueryContext(ctx, args(bounds[i-1], hi)...)
		}
		if err != nil {
			return fmt.Errorf("query batch up to %s %q: %w", key, hi, err)
		}
		err = fn(rows)
		rows.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// forEachDriverBatch is forEachBatch on a driver connection: fn reads the
// driver's rows, which skips database/sql's per-row locking and
// conversions. The transaction is the one open on c.
func forEachDriverBatch(ctx context.Context, c driver.Conn, bounds []string, key string,
	query func(lower string) string, args func(bound ...any) []any, fn func(driver.Rows) error) error {
	if len(bounds) == 0 {
		return nil
	}
	prep, ok := c.(driver.ConnPrepareContext)
	if !ok {
		return errors.New("driver connection cannot prepare with a context")
	}
	prepare := func(q string) (driver.StmtQueryContext, func(), error) {
		st, err := prep.PrepareContext(ctx, q)
		if err != nil {
			return nil, nil, fmt.Errorf("prepare batch query: %w", err)
		}
		sq, ok := st.(driver.StmtQueryContext)
		if !ok {
			st.Close()
			return nil, nil, errors.New("prepare batch query: statement cannot query with a context")
		}
		return sq, func() { st.Close() }, nil
	}
	first, closeFirst, err := prepare(query(""))
	if err != nil {
		return err
	}
	defer closeFirst()
	next, closeNext, err := prepare(query("AND " + key + " > ?"))
	if err != nil {
		return err
	}
	defer closeNext()
	for i, hi := range bounds {
		if err := ctx.Err(); err != nil {
			return err
		}
		st, a := first, args(hi)
		if i > 0 {
			st, a = next, args(bounds[i-1], hi)
		}
		named := make([]driver.NamedValue, len(a))
		for j, v := range a {
			named[j] = driver.NamedValue{Ordinal: j + 1, Value: v}
		}
		rows, err := st.QueryContext(ctx, named)
		if err != nil {
			return fmt.Errorf("query batch up to %s %q: %w", key, hi, err)
		}
		err = fn(rows)
		rows.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
