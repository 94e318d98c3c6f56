package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/turnstile-dev/turnstile/internal/export"
	"github.com/turnstile-dev/turnstile/internal/turns"
)

func runExport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "export", "--partition YYYY-MM-DD [--output FILE]")
	var part partitionFlag
	fs.Var(&part, "partition", "partition whose turns to export (YYYY-MM-DD)")
	output := fs.String("output", "", "file to write (default: standard output)")
	if err := parseArgs(e, fs, args, &part, false); err != nil {
		return err
	}
	_, logger, wh, err := openConfigured(ctx, e)
	if err != nil {
		return err
	}
	defer wh.Close()

	var out io.Writer = e.stdout
	var f *os.File
	if *output != "" && *output != "-" {
		// Write next to the target and rename, so a failed export never
		// leaves a truncated file where a good one was.
		f, err = os.CreateTemp(filepath.Dir(*output), ".turnstile-export-*")
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		defer os.Remove(f.Name())
		defer f.Close()
		out = f
	}
	w := export.NewWriter(out)
	err = wh.ExportTurns(ctx, part.day, func(r *turns.Row) error { return w.Write(r) })
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		return fmt.Errorf("export partition %s: %w", part.day, err)
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if err := os.Rename(f.Name(), *output); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	logger.Info("exported", "partition", part.day.String(), "turns", w.Rows(), "output", nameOr(*output, "stdout"))
	return nil
}

func nameOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
