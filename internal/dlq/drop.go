package dlq

import (
	"context"
	"errors"
	"fmt"

	"cloud.google.com/go/pubsub/v2"

	tpubsub "github.com/turnstile-dev/turnstile/internal/pubsub"
)

// DropSummary reports a Drop. Results has one entry per selected event,
// oldest first.
type DropSummary struct {
	DryRun    bool       `json:"dry_run"` // Drop was called without yes
	Scanned   int        `json:"scanned"`
	Stop      StopReason `json:"scan_stop"`
	Matched   int        `json:"matched"`
	Dropped   int        `json:"dropped"`
	WouldDrop int        `json:"would_drop"`
	Failed    int        `json:"failed"`
	Results   []Result   `json:"results"`
}

// String is a one-line account, e.g. "matched 2 of 7 dead letters: dropped
// 2".
func (s DropSummary) String() string {
	var line string
	if s.DryRun {
		line = fmt.Sprintf("dry run: matched %d of %d dead letters: would drop %d (confirm to drop them)", s.Matched, s.Scanned, s.WouldDrop)
	} else {
		line = fmt.Sprintf("matched %d of %d dead letters: dropped %d, failed %d", s.Matched, s.Scanned, s.Dropped, s.Failed)
	}
	return line + stopNote(s.Stop)
}

// Drop discards the dead-lettered events that o selects by acking them,
// when yes is true; without yes it only reports what it would drop. Every
// other message read is released (nacked). On an ack failure, Drop returns
// the summary with an error; the events of the failed request are reported
// Failed and may or may not be gone.
func Drop(ctx context.Context, client *pubsub.Client, n tpubsub.Names, o Options, yes bool) (DropSummary, error) {
	sum := DropSummary{DryRun: !yes}
	sub := n.SubscriptionPath(n.DeadLetterSubscription)
	s, err := read(ctx, client, n, o, defaultLease)
	if err != nil {
		return sum, fmt.Errorf("drop dead letters on %s: %w", sub, err)
	}
	sum.Scanned, sum.Stop, sum.Matched = s.scanned, s.stop, len(s.selected)
	var ackErr error
	for start := 0; start < len(s.selected); start += maxAckIDs {
		chunk := s.selected[start:min(start+maxAckIDs, len(s.selected))]
		outcome, reason := WouldDrop, ""
		if yes {
			ids := make([]string, len(chunk))
			for i, h := range chunk {
				ids[i] = h.entry.MessageID
			}
			outcome = Dropped
			if ackErr == nil {
				ackErr = s.lease.ack(ctx, ids...)
			}
			if ackErr != nil {
				outcome, reason = Failed, ackErr.Error()
			}
		}
		for _, h := range chunk {
			sum.Results = append(sum.Results, Result{Entry: h.entry, Outcome: outcome, Reason: reason})
			switch outcome {
			case Dropped:
				sum.Dropped++
			case WouldDrop:
				sum.WouldDrop++
			default:
				sum.Failed++
			}
		}
	}
	if err := s.lease.release(ctx); err != nil || ackErr != nil {
		return sum, fmt.Errorf("drop dead letters on %s: %w", sub, errors.Join(ackErr, err))
	}
	return sum, nil
}
