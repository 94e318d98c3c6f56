package main

import (
	"context"
	"fmt"

	"github.com/turnstile-dev/turnstile/internal/dlq"
)

const dlqSynopsis = "list|replay|drop [--partition D] [--error-class C] [--older-than DUR] [--limit N] [--json]\n" +
	"       replay: [--dry-run] [--rate PER_SECOND] [--force]   drop: --yes"

// runDLQ shows, replays or drops dead-lettered events.
func runDLQ(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || (args[0] != dlq.VerbList && args[0] != dlq.VerbReplay && args[0] != dlq.VerbDrop) {
		fmt.Fprintf(e.stderr, "usage: turnstile dlq %s\n", dlqSynopsis)
		return errUsage
	}
	verb := args[0]
	fs := newFlags(e, "dlq "+verb, "[flags]")
	f, err := dlq.AddFlags(fs, verb)
	if err != nil {
		return err
	}
	if err := parseArgs(e, fs, args[1:], nil, false); err != nil {
		return err
	}
	cfg, client, err := openPubSub(ctx, e)
	if err != nil {
		return err
	}
	defer client.Close()
	return f.Run(ctx, client, names(cfg), cfg.MaxReplays, e.stdout)
}
