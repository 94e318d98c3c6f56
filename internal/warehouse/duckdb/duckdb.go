// Package duckdb is the embedded warehouse: the messages, conversations and
// turns tables of SPEC §2 in one DuckDB database file. It implements
// worker.Warehouse (stage 6 reads and the atomic turns replacement),
// ingest.Store (import) and the turns export.
//
// A Warehouse is safe for concurrent use. Reads and writes run on separate
// connections, so a replacement's Produce may read the same warehouse while
// the replacement's transaction is open. Replacements (and imports) of one
// partition run one after the other within the process; DuckDB's file lock
// keeps other processes out of the database while it is open.
package duckdb

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"cloud.google.com/go/civil"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/turnstile-dev/turnstile/internal/ingest"
	"github.com/turnstile-dev/turnstile/worker"
)

// Options configures Open. The table names are identifiers (letters, digits
// and underscores, not starting with a digit); they come from configuration,
// never from event data.
type Options struct {
	// Path is the database file; it is created if missing.
	Path string
	// Table names; empty means messages, conversations and turns.
	MessagesTable, ConversationsTable, TurnsTable string
	// MemoryLimit is DuckDB's memory_limit, e.g. "1GB"; "" keeps DuckDB's
	// default (80% of RAM). Queries larger than the limit spill to
	// TempDirectory.
	MemoryLimit string
	// Threads is DuckDB's worker thread count; 0 keeps DuckDB's default
	// (the number of cores).
	Threads int
	// TempDirectory is where DuckDB spills; "" keeps DuckDB's default
	// (<Path>.tmp).
	TempDirectory string
}

// Warehouse is a DuckDB database holding the three tables.
type Warehouse struct {
	db                                  *sql.DB
	path                                string
	messages, conversations, turnsTable string
	now                                 func() time.Time
	readBatchBytes                      int64 // see batch.go
	// file identifies the database file for partition locks: duckdb-go
	// shares one database between the Warehouses that open the same file.
	file string
}

var (
	_ worker.Warehouse = (*Warehouse)(nil)
	_ ingest.Store     = (*Warehouse)(nil)
)

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// Open opens (creating if needed) the database at o.Path. It does not create
// tables: call EnsureSchema for that. Close releases the database.
func Open(ctx context.Context, o Options) (*Warehouse, error) {
	if o.Path == "" {
		return nil, worker.MarkPermanent(errors.New("open duckdb warehouse: empty database path"))
	}
	w := &Warehouse{
		path:           o.Path,
		messages:       cmp.Or(o.MessagesTable, "messages"),
		conversations:  cmp.Or(o.ConversationsTable, "conversations"),
		turnsTable:     cmp.Or(o.TurnsTable, "turns"),
		now:            time.Now,
		readBatchBytes: defaultReadBatchBytes,
	}
	seen := map[string]string{}
	for _, t := range []struct{ role, name string }{
		{"messages", w.messages}, {"conversations", w.conversations}, {"turns", w.turnsTable},
	} {
		if !identifier.MatchString(t.name) {
			return nil, worker.MarkPermanent(fmt.Errorf("open duckdb warehouse %s: %s table name %q is not an identifier (letters, digits, underscores; not starting with a digit)", o.Path, t.role, t.name))
		}
		if other, dup := seen[t.name]; dup {
			return nil, worker.MarkPermanent(fmt.Errorf("open duckdb warehouse %s: %s and %s tables share the name %q", o.Path, other, t.role, t.name))
		}
		seen[t.name] = t.role
	}
	if o.Threads < 0 {
		return nil, worker.MarkPermanent(fmt.Errorf("open duckdb warehouse %s: threads %d is negative", o.Path, o.Threads))
	}

	// Settings are database-wide, so they go into the configuration the
	// database is created with. preserve_insertion_order stays true (the
	// default): with false, the bundled DuckDB returns the result of an
	// ORDER BY larger than about 100,000 rows as two sorted runs, one after
	// the other (TestLargeReadIsOrdered), which would split conversations.
	cfg := url.Values{}
	if o.MemoryLimit != "" {
		cfg.Set("memory_limit", o.MemoryLimit)
	}
	if o.Threads > 0 {
		cfg.Set("threads", strconv.Itoa(o.Threads))
	}
	if o.TempDirectory != "" {
		cfg.Set("temp_directory", o.TempDirectory)
	}
	connector, err := duckdb.NewConnector(o.Path+"?"+cfg.Encode(), func(c driver.ExecerContext) error {
		// TIMESTAMPTZ values are instants; rendering them in UTC keeps
		// casts to text and date functions independent of the host.
		_, err := c.ExecContext(context.Background(), "SET TimeZone = 'UTC'", nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open duckdb warehouse %s: %w", o.Path, err)
	}
	w.db = sql.OpenDB(connector)
	if w.file, err = filepath.Abs(o.Path); err != nil {
		w.file = o.Path
	}
	// No cap on open connections: a replacement holds one for its
	// transaction while its Produce reads on another, and DuckDB
	// connections are cheap. A few idle ones avoid reconnecting.
	w.db.SetMaxIdleConns(4)
	if err := w.Ping(ctx); err != nil {
		w.db.Close()
		return nil, err
	}
	return w, nil
}

// Close closes the database. Calls in progress fail.
func (w *Warehouse) Close() error {
	if err := w.db.Close(); err != nil {
		return fmt.Errorf("close duckdb warehouse %s: %w", w.path, err)
	}
	return nil
}

// Ping checks that the database answers a query.
func (w *Warehouse) Ping(ctx context.Context) error {
	var one int
	if err := w.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping duckdb warehouse %s: %w", w.path, err)
	}
	return nil
}

// TurnsTableName is the turns table's name, as reported in summaries and
// stage6.complete events.
func (w *Warehouse) TurnsTableName() string { return w.turnsTable }

// dateArg is the query argument for a partition, used as CAST(? AS DATE) so
// that the filter is a DATE constant DuckDB can check against zone maps.
func dateArg(day civil.Date) string { return day.String() }

// quote quotes a validated identifier.
func quote(name string) string { return `"` + name + `"` }
