package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"

	"github.com/duckdb/duckdb-go/v2"
)

// writeTx is a transaction on a dedicated connection, driven with explicit
// BEGIN, COMMIT and ROLLBACK statements so that DuckDB appenders created on
// the same connection write inside it, and queries run on the driver
// connection (see forEachDriverBatch) read inside it.
type writeTx struct {
	conn *sql.Conn
	done bool
}

func (w *Warehouse) beginWrite(ctx context.Context) (*writeTx, error) {
	conn, err := w.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	return &writeTx{conn: conn}, nil
}

func (t *writeTx) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := t.conn.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// appenderSpec says how to create one appender.
type appenderSpec struct {
	name string // the table, for errors
	open func(driver.Conn) (*duckdb.Appender, error)
}

// tableAppender appends to a table of the given catalog ("" for the
// database, "temp" for temporary tables).
func tableAppender(catalog, table string) appenderSpec {
	return appenderSpec{name: table, open: func(c driver.Conn) (*duckdb.Appender, error) {
		return duckdb.NewAppender(c, catalog, "", table)
	}}
}

// appenders runs fn with the appenders specs describe, on the
// transaction's connection, then closes them, flushing their last rows into
// the transaction.
func (t *writeTx) appenders(ctx context.Context, specs []appenderSpec, fn func([]*duckdb.Appender) error) error {
	return t.conn.Raw(func(dc any) error {
		apps := make([]*duckdb.Appender, 0, len(specs))
		closeAll := func() {
			for _, a := range apps {
				// Discard what is buffered: the transaction is rolled back.
				_ = a.Clear()
				_ = a.Close()
			}
		}
		for _, s := range specs {
			a, err := s.open(dc.(driver.Conn))
			if err != nil {
				closeAll()
				return fmt.Errorf("create appender for %s: %w", s.name, err)
			}
			apps = append(apps, a)
		}
		if err := fn(apps); err != nil {
			closeAll()
			return err
		}
		for i, a := range apps {
			if err := a.CloseWithCancel(ctx); err != nil {
				apps = apps[i+1:]
				closeAll()
				return fmt.Errorf("flush appender for %s: %w", specs[i].name, err)
			}
		}
		return nil
	})
}

// commit commits. It is not interrupted by ctx: the caller checked ctx
// before, and a commit cut short would leave the outcome unknown. When it
// fails (a conflict with another writer), DuckDB has rolled back; the
// connection is discarded all the same.
func (t *writeTx) commit(ctx context.Context) error {
	t.done = true
	defer t.conn.Close()
	if _, err := t.conn.ExecContext(context.WithoutCancel(ctx), "COMMIT"); err != nil {
		t.discard()
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// rollback rolls back unless the transaction is already finished; it runs
// even when ctx is done. A connection whose rollback fails is discarded
// rather than returned to the pool with a transaction open.
func (t *writeTx) rollback(ctx context.Context) {
	if t.done {
		return
	}
	t.done = true
	if _, err := t.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
		t.discard()
	}
	t.conn.Close()
}

func (t *writeTx) discard() {
	_ = t.conn.Raw(func(any) error { return driver.ErrBadConn })
}
