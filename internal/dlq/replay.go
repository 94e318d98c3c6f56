package dlq

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	tpubsub "github.com/turnstile-dev/turnstile/internal/pubsub"
)

// Outcome is what Replay or Drop did with one selected event.
type Outcome string

// The outcomes of Replay and Drop.
const (
	Replayed     Outcome = "replayed"      // republished to the input topic, then acked
	WouldReplay  Outcome = "would_replay"  // dry run: would have been replayed
	Skipped      Outcome = "skipped"       // left on the subscription; Reason says why
	Failed       Outcome = "failed"        // the republish or the ack failed; Reason says how
	NotAttempted Outcome = "not_attempted" // left on the subscription: the run stopped before it
	Dropped      Outcome = "dropped"       // acked: gone from the subscription
	WouldDrop    Outcome = "would_drop"    // Drop without yes: would have been dropped
)

// Result is what happened to one selected event.
type Result struct {
	Entry
	Outcome Outcome `json:"outcome"`
	Reason  string  `json:"reason,omitempty"`
	// ReplayMessageID is the message id of the republished event.
	ReplayMessageID string `json:"replay_message_id,omitempty"`
}

// DefaultMaxReplays is the usual ReplayOptions.MaxReplays
// (TURNSTILE_MAX_REPLAYS).
const DefaultMaxReplays = 3

// minRate is the lowest ReplayOptions.Rate accepted.
const minRate = 0.001

// ReplayOptions configure Replay. Events that the replay limit skips count
// towards Filter.Limit.
type ReplayOptions struct {
	Options
	// DryRun reports what would be replayed and changes nothing.
	DryRun bool
	// Rate, when positive, limits republishes per second.
	Rate float64
	// MaxReplays: an event already replayed this many times (its
	// turnstile_replay_count) is skipped unless Force is set. Zero means
	// every replay needs Force.
	MaxReplays int
	// Force replays events whatever their replay count.
	Force bool
}

// ReplaySummary reports a Replay. Results has one entry per selected event,
// oldest first; the counts tally their outcomes.
type ReplaySummary struct {
	DryRun       bool       `json:"dry_run"`
	Scanned      int        `json:"scanned"` // dead letters read, selected or not
	Stop         StopReason `json:"scan_stop"`
	Matched      int        `json:"matched"`
	Replayed     int        `json:"replayed"`
	WouldReplay  int        `json:"would_replay"`
	Skipped      int        `json:"skipped"`
	Failed       int        `json:"failed"`
	NotAttempted int        `json:"not_attempted"`
	Results      []Result   `json:"results"`
}

// String is a one-line account, e.g. "matched 5 of 9 dead letters: replayed
// 3, skipped 1, failed 1, not attempted 0".
func (s ReplaySummary) String() string {
	var b strings.Builder
	if s.DryRun {
		fmt.Fprintf(&b, "dry run: matched %d of %d dead letters: would replay %d, skipped %d", s.Matched, s.Scanned, s.WouldReplay, s.Skipped)
	} else {
		fmt.Fprintf(&b, "matched %d of %d dead letters: replayed %d, skipped %d, failed %d, not attempted %d",
			s.Matched, s.Scanned, s.Replayed, s.Skipped, s.Failed, s.NotAttempted)
	}
	b.WriteString(stopNote(s.Stop))
	return b.String()
}

// stopNote warns when a scan may have missed messages.
func stopNote(r StopReason) string {
	switch r {
	case StopTimeout, StopMaxMessages:
		return fmt.Sprintf(" (the scan stopped at its %s bound: more dead letters may remain)", strings.ReplaceAll(string(r), "_", " "))
	}
	return ""
}

// Replay republishes the dead-lettered events that o selects to the input
// topic of n (SPEC §7), oldest first: the original data and attributes,
// minus Pub/Sub's CloudPubSubDeadLetter* attributes and turnstile's
// turnstile_* attributes, plus turnstile_replay_count (one more than the
// dead letter's) and turnstile_replayed_at. An event whose replay count has
// reached o.MaxReplays is skipped unless o.Force.
//
// A dead letter is acked only after its republish succeeded; every other
// message read is released (nacked) before Replay returns. So whatever
// happens — ctx cancelled, a publish or an ack failing — each selected
// event is either Replayed (republished and acked) or still on the
// dead-letter subscription. A publish already sent when ctx is cancelled
// is waited for (up to the client's publish timeout of 60s) so that its
// outcome is known. Two cases are reported Failed and may be replayed twice
// (stage 6 processing is idempotent): an ack that failed after its
// republish succeeded, and a publish that timed out, whose outcome is
// unknown.
//
// Replay stops at the first failed publish or ack, or when ctx is
// cancelled, and then returns the summary so far with an error; the events
// not reached are NotAttempted.
func Replay(ctx context.Context, client *pubsub.Client, n tpubsub.Names, o ReplayOptions) (ReplaySummary, error) {
	return replay(ctx, client, n, o, defaultLease)
}

// replay is Replay holding the pulled messages for leaseFor at a time.
func replay(ctx context.Context, client *pubsub.Client, n tpubsub.Names, o ReplayOptions, leaseFor time.Duration) (ReplaySummary, error) {
	sum := ReplaySummary{DryRun: o.DryRun}
	sub := n.SubscriptionPath(n.DeadLetterSubscription)
	switch {
	case math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) || o.Rate < 0 || (o.Rate > 0 && o.Rate < minRate):
		return sum, fmt.Errorf("replay: rate %v: must be 0 (no limit) or at least %v per second", o.Rate, minRate)
	case o.MaxReplays < 0:
		return sum, fmt.Errorf("replay: max replays %d: must not be negative", o.MaxReplays)
	}
	s, err := read(ctx, client, n, o.Options, leaseFor)
	if err != nil {
		return sum, fmt.Errorf("replay from %s: %w", sub, err)
	}
	sum.Scanned, sum.Stop = s.scanned, s.stop
	now := o.Options.withDefaults().Now
	topic := n.TopicPath(n.InputTopic)
	pace := newPacer(o.Rate)

	var stopErr error
	for _, h := range s.selected {
		r := Result{Entry: h.entry}
		count, countErr := replayCount(h.msg.GetAttributes())
		switch {
		case stopErr != nil:
			r.Outcome, r.Reason = NotAttempted, "the replay stopped before this event"
		case countErr != nil && !o.Force:
			r.Outcome, r.Reason = Skipped, countErr.Error()+"; force to replay it"
		case count >= o.MaxReplays && !o.Force:
			r.Outcome, r.Reason = Skipped, fmt.Sprintf("replayed %d times already, the limit is %d; force to replay it again", count, o.MaxReplays)
		case o.DryRun:
			r.Outcome = WouldReplay
		default:
			r, stopErr = replayOne(ctx, client, s.lease, topic, h, count+1, now, &pace)
		}
		sum.Results = append(sum.Results, r)
	}
	relErr := s.lease.release(ctx)
	for _, r := range sum.Results {
		sum.Matched++
		switch r.Outcome {
		case Replayed:
			sum.Replayed++
		case WouldReplay:
			sum.WouldReplay++
		case Skipped:
			sum.Skipped++
		case Failed:
			sum.Failed++
		case NotAttempted:
			sum.NotAttempted++
		}
	}
	if err := errors.Join(stopErr, relErr); err != nil {
		return sum, fmt.Errorf("replay from %s to %s: %w", sub, topic, err)
	}
	return sum, nil
}

// replayOne republishes h as its count-th replay and acks it. A non-nil
// error stops the replay.
func replayOne(ctx context.Context, client *pubsub.Client, l *lease, topic string, h *held, count int, now func() time.Time, pace *pacer) (Result, error) {
	r := Result{Entry: h.entry}
	notAttempted := func(err error) (Result, error) {
		r.Outcome, r.Reason = NotAttempted, "the replay stopped before this event"
		return r, err
	}
	if err := ctx.Err(); err != nil {
		return notAttempted(context.Cause(ctx))
	}
	if err := pace.wait(ctx); err != nil {
		return notAttempted(err)
	}
	if err := l.healthy(); err != nil {
		return notAttempted(err)
	}
	msg := &pubsubpb.PubsubMessage{Data: h.msg.GetData(), Attributes: replayAttributes(h.msg.GetAttributes(), count, now())}
	// Once sent, a publish is waited for even if ctx is cancelled: whether
	// it succeeded decides between ack and nack.
	resp, err := client.TopicAdminClient.Publish(context.WithoutCancel(ctx), &pubsubpb.PublishRequest{Topic: topic, Messages: []*pubsubpb.PubsubMessage{msg}})
	if err == nil && len(resp.GetMessageIds()) != 1 {
		err = fmt.Errorf("got %d message ids for 1 message", len(resp.GetMessageIds()))
	}
	if err != nil {
		err = fmt.Errorf("republish dead letter %s: %w", h.entry.MessageID, err)
		r.Outcome, r.Reason = Failed, err.Error()+"; it stays dead-lettered"
		return r, err
	}
	r.ReplayMessageID = resp.GetMessageIds()[0]
	if err := l.ack(ctx, h.entry.MessageID); err != nil {
		err = fmt.Errorf("dead letter %s was republished as %s, then: %w", h.entry.MessageID, r.ReplayMessageID, err)
		r.Outcome, r.Reason = Failed, err.Error()+"; it was republished but stays dead-lettered, so it may be replayed again"
		return r, err
	}
	r.Outcome = Replayed
	return r, nil
}

// pacer spaces calls of wait by a fixed interval; the first one does not
// wait.
type pacer struct {
	every time.Duration
	next  time.Time
}

func newPacer(rate float64) pacer {
	if rate <= 0 {
		return pacer{}
	}
	return pacer{every: time.Duration(float64(time.Second) / rate)}
}

func (p *pacer) wait(ctx context.Context) error {
	if p.every == 0 {
		return nil
	}
	now := time.Now()
	if p.next.After(now) {
		if err := sleep(ctx, p.next.Sub(now)); err != nil {
			return err
		}
		now = p.next
	}
	p.next = now.Add(p.every)
	return nil
}
