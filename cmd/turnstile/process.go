package main

import (
	"context"
	"fmt"
	"time"

	"github.com/turnstile-dev/turnstile/internal/turns"
	"github.com/turnstile-dev/turnstile/worker"
)

func runProcess(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "process", "--partition YYYY-MM-DD [--run-id ID] [--expect-conversations N] [--dry-run]")
	var part partitionFlag
	fs.Var(&part, "partition", "partition to process (YYYY-MM-DD)")
	runID := fs.String("run-id", "", "run id written to every turn (default: generated)")
	expect := fs.Int64("expect-conversations", -1, "fail the input check unless the partition holds exactly this many conversations (the event's conversation_count)")
	dryRun := fs.Bool("dry-run", false, "read and pair, write nothing, report what would be written")
	if err := parseArgs(e, fs, args, &part, false); err != nil {
		return err
	}
	_, logger, wh, err := openConfigured(ctx, e)
	if err != nil {
		return err
	}
	defer wh.Close()

	p := &worker.Processor{
		Warehouse:  wh,
		TurnsTable: wh.TurnsTableName(),
		Logger:     logger,
		Progress: func(s turns.Stats) {
			logger.Info("progress", "partition", part.day.String(), "conversations", s.Conversations, "messages", s.Messages, "turns", s.Turns)
		},
	}
	req := worker.Request{Day: part.day, RunID: *runID, DryRun: *dryRun}
	if req.RunID == "" {
		req.RunID = newRunID(time.Now())
	}
	if *expect >= 0 {
		req.ExpectConversations = expect
	}
	sum, err := p.Process(ctx, req)
	if err != nil {
		return err
	}
	if err := writeJSON(e.stdout, sum); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}
