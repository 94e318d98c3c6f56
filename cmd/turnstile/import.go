package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/civil"

	"github.com/turnstile-dev/turnstile/internal/ingest"
	"github.com/turnstile-dev/turnstile/internal/synth"
)

func runImport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "import", "--format sharegpt|openai|ndjson --partition YYYY-MM-DD [--source NAME] [--run-id ID] FILE...")
	format := fs.String("format", "", "input format: "+strings.Join(ingest.Formats, ", "))
	var part partitionFlag
	fs.Var(&part, "partition", "partition to load into (YYYY-MM-DD)")
	source := fs.String("source", "", "conversations' source (default: the format's name)")
	runID := fs.String("run-id", "", "run id recorded on the conversations (default: generated)")
	if err := parseArgs(e, fs, args, &part, true); err != nil {
		return err
	}
	if *format == "" {
		fmt.Fprintln(e.stderr, "turnstile: --format is required ("+strings.Join(ingest.Formats, ", ")+")")
		return errUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(e.stderr, "turnstile: import needs at least one FILE (- for standard input)")
		return errUsage
	}
	if *source == "" {
		*source = *format
	}
	if *runID == "" {
		*runID = newRunID(time.Now())
	}
	_, logger, wh, err := openConfigured(ctx, e)
	if err != nil {
		return err
	}
	defer wh.Close()

	for _, name := range fs.Args() {
		in := e.stdin
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			defer f.Close()
			in = f
		}
		r, err := ingest.NewReader(*format, in, *source, part.day)
		if err != nil {
			return fmt.Errorf("import %s: %w", name, err)
		}
		res, err := importReader(ctx, wh, part.day, *runID, name, r, logger)
		if err != nil {
			return err
		}
		if err := writeJSON(e.stdout, res); err != nil {
			return err
		}
	}
	return nil
}

func runGenerate(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "generate", "--partition YYYY-MM-DD --conversations N [--seed S] [--source NAME] [--run-id ID]")
	var part partitionFlag
	fs.Var(&part, "partition", "partition to write (YYYY-MM-DD)")
	n := fs.Int("conversations", 1000, "conversations to generate")
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives the same data")
	source := fs.String("source", "synthetic", "conversations' source")
	runID := fs.String("run-id", "", "run id recorded on the conversations (default: generated)")
	if err := parseArgs(e, fs, args, &part, false); err != nil {
		return err
	}
	if *n < 1 {
		fmt.Fprintln(e.stderr, "turnstile: --conversations must be at least 1")
		return errUsage
	}
	if *runID == "" {
		*runID = newRunID(time.Now())
	}
	_, logger, wh, err := openConfigured(ctx, e)
	if err != nil {
		return err
	}
	defer wh.Close()

	r := synth.New(synth.Options{Seed: *seed, Conversations: *n, Source: *source, Day: part.day})
	res, err := importReader(ctx, wh, part.day, *runID, "generated", r, logger)
	if err != nil {
		return err
	}
	return writeJSON(e.stdout, res)
}

// importResult is what import and generate print for each input.
type importResult struct {
	Input     string `json:"input"`
	Partition string `json:"partition"`
	RunID     string `json:"run_id"`
	ingest.Result
	DurationMS int64 `json:"duration_ms"`
}

// importReader imports r into the partition, logging progress on long
// inputs, and returns what to print.
func importReader(ctx context.Context, wh warehouse, day civil.Date, runID, input string, r ingest.Reader, logger *slog.Logger) (importResult, error) {
	start := time.Now()
	counted := ingest.NewCountingReader(r, 50000, func(p ingest.Progress) {
		if !p.Done {
			logger.Info("importing", "input", input, "partition", day.String(), "conversations", p.Conversations, "messages", p.Messages)
		}
	})
	res, err := wh.Import(ctx, day, runID, counted)
	if err != nil {
		return importResult{}, fmt.Errorf("import %s into partition %s: %w (nothing of it was stored)", input, day, err)
	}
	return importResult{
		Input: input, Partition: day.String(), RunID: runID, Result: res,
		DurationMS: time.Since(start).Milliseconds(),
	}, nil
}
