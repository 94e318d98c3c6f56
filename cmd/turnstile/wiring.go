package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"cloud.google.com/go/civil"

	"github.com/turnstile-dev/turnstile/config"
	"github.com/turnstile-dev/turnstile/internal/ingest"
	"github.com/turnstile-dev/turnstile/internal/turns"
	"github.com/turnstile-dev/turnstile/internal/warehouse/bigquery"
	"github.com/turnstile-dev/turnstile/internal/warehouse/duckdb"
	"github.com/turnstile-dev/turnstile/worker"
)

// warehouse is everything the commands need of a warehouse backend.
type warehouse interface {
	worker.Warehouse
	ingest.Store
	ExportTurns(ctx context.Context, day civil.Date, fn func(*turns.Row) error) error
	EnsureSchema(ctx context.Context) ([]string, error)
	Ping(ctx context.Context) error
	TurnsTableName() string
	Close() error
}

var (
	_ warehouse = (*duckdb.Warehouse)(nil)
	_ warehouse = (*bigquery.Warehouse)(nil)
)

// openWarehouse opens the configured warehouse. The embedded DuckDB
// warehouse creates its tables on open, so a laptop needs no setup step.
func openWarehouse(ctx context.Context, cfg config.Config) (warehouse, error) {
	w, err := connectWarehouse(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Warehouse == config.WarehouseDuckDB {
		if _, err := w.EnsureSchema(ctx); err != nil {
			w.Close()
			return nil, err
		}
	}
	return w, nil
}

// connectWarehouse is the one place a backend is chosen. It creates no
// tables: setup creates them with EnsureSchema and reports what it created.
func connectWarehouse(ctx context.Context, cfg config.Config) (warehouse, error) {
	switch cfg.Warehouse {
	case config.WarehouseDuckDB:
		return duckdb.Open(ctx, duckdb.Options{
			Path:               cfg.DuckDBPath,
			MessagesTable:      cfg.MessagesTable,
			ConversationsTable: cfg.ConversationsTable,
			TurnsTable:         cfg.TurnsTable,
			MemoryLimit:        cfg.DuckDBMemoryLimit,
			Threads:            cfg.DuckDBThreads,
		})
	case config.WarehouseBigQuery:
		// BigQuery tables are created by `turnstile setup`, not on open:
		// creating them needs more permissions than processing does.
		return bigquery.New(ctx, bigquery.Options{
			Project:            cfg.BQProject,
			Dataset:            cfg.BQDataset,
			Location:           cfg.BQLocation,
			MessagesTable:      cfg.MessagesTable,
			ConversationsTable: cfg.ConversationsTable,
			TurnsTable:         cfg.TurnsTable,
			DailyLoadJobs:      cfg.BQDailyLoadJobs,
			DailyQueryJobs:     cfg.BQDailyQueryJobs,
			SeedBudgetFromJobs: cfg.BQSeedBudget,
			EmulatorHost:       cfg.BigQueryEmulator,
		})
	default:
		return nil, fmt.Errorf("warehouse %q is not available", cfg.Warehouse)
	}
}

// loadConfig reads the environment and builds the logger every command uses.
func loadConfig(e *env) (config.Config, *slog.Logger, error) {
	cfg, err := config.Load()
	if err != nil {
		return config.Config{}, nil, err
	}
	level, _ := cfg.SlogLevel()
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	return cfg, logger, nil
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: turnstile %s %s\n\nflags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and turns flag errors into errUsage, and -h into
// errHelp (which run reports as success). Positional arguments are only
// allowed when the command takes them.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return errHelp
		}
		return errUsage
	}
	return nil
}

// parseArgs parses args into fs. Unless positional is true it rejects
// positional arguments; when part is not nil, --partition is required.
func parseArgs(e *env, fs *flag.FlagSet, args []string, part *partitionFlag, positional bool) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !positional && fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "turnstile %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return errUsage
	}
	if part != nil {
		return part.require(e)
	}
	return nil
}

// openConfigured loads the configuration and opens its warehouse; the
// caller closes the warehouse.
func openConfigured(ctx context.Context, e *env) (config.Config, *slog.Logger, warehouse, error) {
	cfg, logger, err := loadConfig(e)
	if err != nil {
		return cfg, nil, nil, err
	}
	wh, err := openWarehouse(ctx, cfg)
	return cfg, logger, wh, err
}

// partitionFlag is a --partition YYYY-MM-DD flag that must be set.
type partitionFlag struct {
	day civil.Date
	set bool
}

func (p *partitionFlag) String() string {
	if !p.set {
		return ""
	}
	return p.day.String()
}

func (p *partitionFlag) Set(s string) error {
	d, err := civil.ParseDate(s)
	if err != nil || !d.IsValid() {
		return fmt.Errorf("%q is not a date in YYYY-MM-DD form", s)
	}
	p.day, p.set = d, true
	return nil
}

func (p *partitionFlag) require(e *env) error {
	if !p.set {
		fmt.Fprintln(e.stderr, "turnstile: --partition YYYY-MM-DD is required")
		return errUsage
	}
	return nil
}

// newRunID returns a run id for runs started by hand.
func newRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "run-" + now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// writeJSON writes v as indented JSON followed by a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// discardLogger drops every record.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
