package dlq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/google/go-cmp/cmp"

	tpubsub "github.com/turnstile-dev/turnstile/internal/pubsub"
	"github.com/turnstile-dev/turnstile/internal/pubsub/emulator"
	"github.com/turnstile-dev/turnstile/internal/testutil"
)

// row is what a test checks of a listed entry.
type row struct {
	Partition, RunID, SourceMessageID, ErrorClass, Step string
	DeliveryCount, ReplayCount                          int
}

func rows(entries []Entry) []row {
	out := make([]row, 0, len(entries))
	for _, e := range entries {
		out = append(out, row{e.Partition, e.RunID, e.SourceMessageID, e.ErrorClass, e.Step, e.DeliveryCount, e.ReplayCount})
	}
	slices.SortFunc(out, func(a, b row) int { return strings.Compare(a.Partition, b.Partition) })
	return out
}

// Dead letters of both kinds are listed with their reasons, listing
// consumes nothing, and once the cause is fixed a replay sends them back to
// the running worker, which processes them.
func TestListThenReplayAfterTheFix(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.proc.setFail(notReady)
	s.startWorker(t, 0)

	bad := s.publishMalformed(t, "run-bad", "2026-01-22", nil)
	a := s.publish(t, "run-a", "2026-01-23")
	b := s.publish(t, "run-b", "2026-01-24")
	s.waitOutcomes(t, "dead_lettered", 3)

	first := s.list(t, Filter{})
	want := []row{
		{"2026-01-22", "run-bad", bad, "permanent", "decode", 1, 0},
		{"2026-01-23", "run-a", a, "retryable", "check_input", 5, 0},
		{"2026-01-24", "run-b", b, "retryable", "check_input", 5, 0},
	}
	if diff := cmp.Diff(want, rows(first.Entries)); diff != "" {
		t.Fatalf("listed dead letters (-want +got):\n%s", diff)
	}
	if first.Scanned != 3 || first.Stop != StopQuiet {
		t.Errorf("scanned %d, stopped %s; want 3, %s", first.Scanned, first.Stop, StopQuiet)
	}
	for _, e := range first.Entries {
		wantErr := "partition not ready"
		if e.ErrorClass == "permanent" {
			wantErr = "malformed JSON"
		}
		if !strings.Contains(e.Error, wantErr) {
			t.Errorf("dead letter for %s: error %q, want it to contain %q", e.Partition, e.Error, wantErr)
		}
	}

	second := s.list(t, Filter{})
	if diff := cmp.Diff(first.Entries, second.Entries); diff != "" {
		t.Errorf("second listing differs from the first (-first +second):\n%s", diff)
	}
	if got := s.list(t, Filter{OlderThan: time.Hour}); len(got.Entries) != 0 || got.Scanned != 3 {
		t.Errorf("older than 1h: %d of %d listed, want 0 of 3", len(got.Entries), got.Scanned)
	}
	o := s.options(Filter{OlderThan: time.Hour})
	o.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if got, err := List(context.Background(), s.client, s.n, o); err != nil || len(got.Entries) != 3 {
		t.Errorf("older than 1h, two hours later: %d listed, %v; want 3", len(got.Entries), err)
	}

	// The partitions are ready now.
	s.proc.setFail(nil)
	sum := s.replay(t, ReplayOptions{Options: s.options(Filter{ErrorClass: "retryable"}), MaxReplays: DefaultMaxReplays})
	if sum.Scanned != 3 || sum.Matched != 2 || sum.Replayed != 2 || len(sum.Results) != 2 {
		t.Fatalf("replay summary %s, want 2 of 3 matched and replayed", sum)
	}
	testutil.WaitFor(t, 30*time.Second, "two stage6.complete events", func() bool { return len(s.out.all()) >= 2 })
	var processed []string
	for _, e := range s.out.stage6(t) {
		processed = append(processed, e.PartitionDate.String()+" "+e.RunID+" "+e.SourceMessageID)
	}
	slices.Sort(processed)
	var wantProcessed []string
	for _, r := range sum.Results {
		wantProcessed = append(wantProcessed, r.Partition+" "+r.RunID+" "+r.ReplayMessageID)
	}
	slices.Sort(wantProcessed)
	if diff := cmp.Diff(wantProcessed, processed); diff != "" {
		t.Errorf("stage6.complete events (partition, run, source message) (-want +got):\n%s", diff)
	}

	// The replayed events carry the original attributes and a replay count,
	// not the dead-letter attributes.
	replays := s.tap.replays()
	if len(replays) != 2 {
		t.Fatalf("%d replayed messages on the input topic, want 2", len(replays))
	}
	for _, m := range replays {
		replayedAt, err := time.Parse(time.RFC3339Nano, m.Attributes[AttrReplayedAt])
		if err != nil || time.Since(replayedAt) > time.Minute {
			t.Errorf("%s = %q, want the time of the replay", AttrReplayedAt, m.Attributes[AttrReplayedAt])
		}
		day := m.Attributes["partition_date"]
		wantAttrs := map[string]string{
			"event_type": "stage5.complete", "schema_version": "1", "partition_date": day,
			"run_id":        map[string]string{"2026-01-23": "run-a", "2026-01-24": "run-b"}[day],
			AttrReplayCount: "1", AttrReplayedAt: m.Attributes[AttrReplayedAt],
		}
		if diff := cmp.Diff(wantAttrs, m.Attributes); diff != "" {
			t.Errorf("replayed message attributes (-want +got):\n%s", diff)
		}
	}

	// Only the malformed event is left; dropping it empties the
	// subscription, but only when confirmed.
	left := s.list(t, Filter{})
	if diff := cmp.Diff(want[:1], rows(left.Entries)); diff != "" {
		t.Errorf("dead letters after the replay (-want +got):\n%s", diff)
	}
	drop := func(yes bool) DropSummary {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		sum, err := Drop(ctx, s.client, s.n, s.options(Filter{}), yes)
		if err != nil {
			t.Fatalf("Drop(yes %t): %v", yes, err)
		}
		return sum
	}
	if sum := drop(false); sum.WouldDrop != 1 || sum.Dropped != 0 || !sum.DryRun {
		t.Errorf("drop without yes: %s, want it to only report 1", sum)
	}
	if got := s.list(t, Filter{}); len(got.Entries) != 1 {
		t.Fatalf("after a drop without yes %d dead letters are left, want 1", len(got.Entries))
	}
	if sum := drop(true); sum.Dropped != 1 {
		t.Errorf("drop: %s, want 1 dropped", sum)
	}
	if got := s.list(t, Filter{}); got.Scanned != 0 {
		t.Errorf("after the drop %d dead letters are left, want none", got.Scanned)
	}
}

// Events that Pub/Sub's own dead-letter policy forwarded (the worker did
// not record why) are listed with Pub/Sub's delivery count and replayed
// without Pub/Sub's attributes.
func TestPubSubDeadLetteredEvents(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.proc.setFail(notReady)
	// A worker that would retry longer than the subscription lets it.
	s.startWorker(t, 100)
	id := s.publish(t, "run-p", "2026-01-25")

	var l Listing
	testutil.WaitFor(t, 60*time.Second, "Pub/Sub to dead-letter the event", func() bool {
		l = s.list(t, Filter{})
		return len(l.Entries) > 0
	})
	want := []row{{"2026-01-25", "run-p", "", ClassUnknown, "", 5, 0}}
	if diff := cmp.Diff(want, rows(l.Entries)); diff != "" {
		t.Fatalf("listed dead letters (-want +got):\n%s", diff)
	}
	if got, wantErr := l.Entries[0].Error, "dead-lettered by Pub/Sub after 5 delivery attempts"; got != wantErr {
		t.Errorf("error %q, want %q", got, wantErr)
	}
	if got := s.list(t, Filter{ErrorClass: ClassUnknown}); len(got.Entries) != 1 {
		t.Errorf("%d entries of class %s, want 1", len(got.Entries), ClassUnknown)
	}

	s.proc.setFail(nil)
	sum := s.replay(t, ReplayOptions{Options: s.options(Filter{}), MaxReplays: DefaultMaxReplays})
	if sum.Replayed != 1 {
		t.Fatalf("replay: %s, want 1 replayed", sum)
	}
	testutil.WaitFor(t, 30*time.Second, "the stage6.complete event", func() bool { return len(s.out.all()) == 1 })
	replays := s.tap.replays()
	if len(replays) != 1 {
		t.Fatalf("%d replayed messages, want 1", len(replays))
	}
	for k := range replays[0].Attributes {
		if strings.HasPrefix(k, PubSubDeadLetterPrefix) {
			t.Errorf("replayed message has Pub/Sub's attribute %s", k)
		}
	}
	if replays[0].ID == id {
		t.Error("the replayed message has the original's id")
	}
	if got := s.list(t, Filter{}); got.Scanned != 0 {
		t.Errorf("%d dead letters left after the replay, want none", got.Scanned)
	}
}

// Filters and limits replay exactly the selected events and leave the rest.
func TestReplayFiltersAndLimit(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.proc.setFail(tableMissing)
	s.startWorker(t, 0)
	for _, ev := range [][2]string{{"run-1", "2026-02-01"}, {"run-2", "2026-02-01"}, {"run-3", "2026-02-02"}, {"run-4", "2026-02-02"}, {"run-5", "2026-02-02"}} {
		s.publish(t, ev[0], ev[1])
	}
	s.waitOutcomes(t, "dead_lettered", 5)
	before := s.list(t, Filter{})
	if len(before.Entries) != 5 {
		t.Fatalf("%d dead letters, want 5", len(before.Entries))
	}
	byDay := map[string][]string{}
	for _, e := range before.Entries {
		byDay[e.Partition] = append(byDay[e.Partition], e.MessageID)
	}
	s.proc.setFail(nil)

	feb1 := civil.Date{Year: 2026, Month: 2, Day: 1}
	sum := s.replay(t, ReplayOptions{Options: s.options(Filter{Partition: &feb1}), MaxReplays: DefaultMaxReplays})
	if diff := cmp.Diff(messageIDs(entriesOf(before, "2026-02-01")), resultIDs(sum.Results, Replayed)); diff != "" {
		t.Errorf("replayed for partition 2026-02-01 (-want +got):\n%s", diff)
	}
	after := s.list(t, Filter{})
	if diff := cmp.Diff(messageIDs(entriesOf(before, "2026-02-02")), messageIDs(after.Entries)); diff != "" {
		t.Errorf("left after replaying 2026-02-01 (-want +got):\n%s", diff)
	}

	feb2 := civil.Date{Year: 2026, Month: 2, Day: 2}
	sum = s.replay(t, ReplayOptions{Options: s.options(Filter{Partition: &feb2, Limit: 2}), MaxReplays: DefaultMaxReplays})
	replayed := resultIDs(sum.Results, Replayed)
	if sum.Matched != 2 || len(replayed) != 2 {
		t.Fatalf("replay with limit 2: %s, want 2 matched and replayed", sum)
	}
	last := s.list(t, Filter{})
	var wantLeft []string
	for _, id := range byDay["2026-02-02"] {
		if !slices.Contains(replayed, id) {
			wantLeft = append(wantLeft, id)
		}
	}
	if diff := cmp.Diff(wantLeft, messageIDs(last.Entries)); diff != "" {
		t.Errorf("left after replaying 2 of 2026-02-02 (-want +got):\n%s", diff)
	}

	testutil.WaitFor(t, 30*time.Second, "four stage6.complete events", func() bool { return len(s.out.all()) >= 4 })
	perDay := map[string]int{}
	for _, e := range s.out.stage6(t) {
		perDay[e.PartitionDate.String()]++
	}
	if diff := cmp.Diff(map[string]int{"2026-02-01": 2, "2026-02-02": 2}, perDay); diff != "" {
		t.Errorf("stage6.complete events per partition (-want +got):\n%s", diff)
	}
}

func entriesOf(l Listing, day string) []Entry {
	var out []Entry
	for _, e := range l.Entries {
		if e.Partition == day {
			out = append(out, e)
		}
	}
	return out
}

// An interrupted replay loses and duplicates nothing: each event is either
// reported replayed (republished once, and gone from the dead letters) or
// still dead-lettered.
func TestReplayInterrupted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		interrupt func(s *stack, cancel context.CancelFunc) error
	}{
		{
			name: "context cancelled",
			interrupt: func(_ *stack, cancel context.CancelFunc) error {
				cancel()
				return nil
			},
		},
		{
			name: "input topic deleted",
			interrupt: func(s *stack, _ context.CancelFunc) error {
				return s.client.TopicAdminClient.DeleteTopic(context.Background(), &pubsubpb.DeleteTopicRequest{Topic: s.n.TopicPath(s.n.InputTopic)})
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t)
			s.deadLetterMalformed(t, "run-1", "2026-03-01", "run-2", "2026-03-02", "run-3", "2026-03-03",
				"run-4", "2026-03-04", "run-5", "2026-03-05", "run-6", "2026-03-06")
			all := messageIDs(s.list(t, Filter{}).Entries)
			if len(all) != 6 {
				t.Fatalf("%d dead letters, want 6", len(all))
			}

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			type outcome struct {
				sum ReplaySummary
				err error
			}
			done := make(chan outcome, 1)
			go func() {
				sum, err := Replay(ctx, s.client, s.n, ReplayOptions{Options: s.options(Filter{}), Rate: 2, MaxReplays: DefaultMaxReplays})
				done <- outcome{sum, err}
			}()
			testutil.WaitFor(t, 20*time.Second, "two replayed events", func() bool { return len(s.tap.replays()) >= 2 })
			if err := tc.interrupt(s, cancel); err != nil {
				t.Fatal(err)
			}
			res := <-done
			if res.err == nil {
				t.Fatalf("Replay returned no error after the interruption: %s", res.sum)
			}
			sum := res.sum
			if sum.Replayed < 2 || sum.Replayed == 6 || sum.Matched != 6 {
				t.Errorf("replay: %s; want it stopped part way", sum)
			}

			// Nothing reported replayed is still dead-lettered, and nothing
			// else is gone.
			left := messageIDs(s.list(t, Filter{}).Entries)
			if diff := cmp.Diff(resultIDs(sum.Results, Failed, NotAttempted), left); diff != "" {
				t.Errorf("dead letters left: want exactly the failed and not attempted (-want +got):\n%s", diff)
			}
			if got := len(resultIDs(sum.Results, Replayed)) + len(left); got != 6 {
				t.Errorf("%d replayed + %d left = %d, want 6", sum.Replayed, len(left), got)
			}
			// What reached the input topic is exactly what was reported.
			var wantIDs, gotIDs []string
			for _, r := range sum.Results {
				if r.Outcome == Replayed {
					wantIDs = append(wantIDs, r.ReplayMessageID)
				}
			}
			if tc.name == "input topic deleted" {
				if sum.Failed != 1 {
					t.Errorf("replay: %s; want the one publish that found no topic failed", sum)
				}
				return // the watching subscription lost its topic
			}
			testutil.WaitFor(t, 10*time.Second, "the replayed events", func() bool { return len(s.tap.replays()) >= len(wantIDs) })
			for _, m := range s.tap.replays() {
				gotIDs = append(gotIDs, m.ID)
			}
			slices.Sort(wantIDs)
			slices.Sort(gotIDs)
			if diff := cmp.Diff(wantIDs, gotIDs); diff != "" {
				t.Errorf("messages republished (-reported +seen):\n%s", diff)
			}
			if !errors.Is(res.err, context.Canceled) {
				t.Errorf("Replay error %v, want context.Canceled", res.err)
			}
		})
	}
}

// A dry run changes nothing, and reports the events the replay limit
// would skip.
func TestReplayDryRun(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	stop := s.startWorker(t, 0)
	s.publishMalformed(t, "run-1", "2026-04-01", nil)
	s.publishMalformed(t, "run-2", "2026-04-02", nil)
	s.publishMalformed(t, "run-3", "2026-04-03", map[string]string{AttrReplayCount: "3"})
	s.waitOutcomes(t, "dead_lettered", 3)
	stop()
	before := s.list(t, Filter{})

	sum := s.replay(t, ReplayOptions{Options: s.options(Filter{}), DryRun: true, MaxReplays: 3})
	if sum.Matched != 3 || sum.WouldReplay != 2 || sum.Skipped != 1 || sum.Replayed != 0 {
		t.Errorf("dry run: %s; want 2 would be replayed, 1 skipped", sum)
	}
	for _, r := range sum.Results {
		if want := r.Partition != "2026-04-03"; (r.Outcome == WouldReplay) != want {
			t.Errorf("dry run: %s is %s (%s)", r.Partition, r.Outcome, r.Reason)
		}
	}
	after := s.list(t, Filter{})
	if diff := cmp.Diff(before.Entries, after.Entries); diff != "" {
		t.Errorf("dead letters changed by a dry run (-before +after):\n%s", diff)
	}
	if n := len(s.tap.replays()); n != 0 {
		t.Errorf("a dry run published %d messages", n)
	}
}

// The replay count survives the worker dead-lettering a replayed event
// again, so the replay limit stops the third loop; force overrides it.
func TestReplayLimitStopsTheThirdLoop(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.proc.setFail(tableMissing) // never fixed
	s.startWorker(t, 0)
	s.publish(t, "run-loop", "2026-05-01")
	s.waitOutcomes(t, "dead_lettered", 1)

	const maxReplays = 2
	replayOnce := func(force bool) ReplaySummary {
		return s.replay(t, ReplayOptions{Options: s.options(Filter{}), MaxReplays: maxReplays, Force: force})
	}
	listOne := func() Entry {
		l := s.list(t, Filter{})
		if len(l.Entries) != 1 {
			t.Fatalf("%d dead letters, want 1", len(l.Entries))
		}
		return l.Entries[0]
	}
	for loop := 1; loop <= maxReplays; loop++ {
		if sum := replayOnce(false); sum.Replayed != 1 {
			t.Fatalf("loop %d: %s, want 1 replayed", loop, sum)
		}
		s.waitOutcomes(t, "dead_lettered", loop+1)
		if e := listOne(); e.ReplayCount != loop || e.ErrorClass != "permanent" || e.ReplayedAt.IsZero() {
			t.Fatalf("loop %d: dead letter has replay count %d, class %s, replayed at %v; want %d, permanent, a time",
				loop, e.ReplayCount, e.ErrorClass, e.ReplayedAt, loop)
		}
	}

	held := listOne()
	sum := replayOnce(false)
	if sum.Replayed != 0 || sum.Skipped != 1 || !strings.Contains(sum.Results[0].Reason, "the limit is 2") {
		t.Fatalf("third loop: %s (%+v), want it skipped at the limit", sum, sum.Results)
	}
	if e := listOne(); e.MessageID != held.MessageID || e.ReplayCount != maxReplays {
		t.Errorf("after the skipped replay the dead letter is %s with count %d, want %s with %d", e.MessageID, e.ReplayCount, held.MessageID, maxReplays)
	}

	if sum := replayOnce(true); sum.Replayed != 1 {
		t.Fatalf("forced: %s, want 1 replayed", sum)
	}
	s.waitOutcomes(t, "dead_lettered", maxReplays+2)
	if e := listOne(); e.ReplayCount != maxReplays+1 {
		t.Errorf("after the forced replay the count is %d, want %d", e.ReplayCount, maxReplays+1)
	}
}

// Drop discards only the selected events, and only when confirmed.
func TestDrop(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.deadLetterMalformed(t, "run-1", "2026-06-01", "run-2", "2026-06-01", "run-3", "2026-06-02")
	before := s.list(t, Filter{})
	june1 := civil.Date{Year: 2026, Month: 6, Day: 1}
	f := Filter{Partition: &june1}

	for _, yes := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		sum, err := Drop(ctx, s.client, s.n, s.options(f), yes)
		cancel()
		if err != nil {
			t.Fatalf("Drop(yes %t): %v", yes, err)
		}
		wantLeft := messageIDs(before.Entries)
		outcome := WouldDrop
		if yes {
			wantLeft = messageIDs(entriesOf(before, "2026-06-02"))
			outcome = Dropped
		}
		if diff := cmp.Diff(messageIDs(entriesOf(before, "2026-06-01")), resultIDs(sum.Results, outcome)); diff != "" {
			t.Errorf("Drop(yes %t) %s (-want +got):\n%s", yes, outcome, diff)
		}
		if diff := cmp.Diff(wantLeft, messageIDs(s.list(t, Filter{}).Entries)); diff != "" {
			t.Errorf("after Drop(yes %t), dead letters left (-want +got):\n%s", yes, diff)
		}
	}
}

// A replay that outlasts the lease of the messages it holds keeps them:
// no other reader sees them meanwhile, and each is replayed once.
func TestLongReplayKeepsItsLease(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.deadLetterMalformed(t, "run-1", "2026-07-01", "run-2", "2026-07-02", "run-3", "2026-07-03", "run-4", "2026-07-04")

	o := ReplayOptions{Options: s.options(Filter{}), Rate: 0.25, MaxReplays: DefaultMaxReplays} // one every 4s
	done := make(chan ReplaySummary, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		sum, err := replay(ctx, s.client, s.n, o, 10*time.Second) // the subscription's minimum
		if err != nil {
			t.Errorf("Replay: %v", err)
		}
		done <- sum
	}()
	// The third republish comes about 8s after the messages were pulled;
	// 3s later, past the 10s lease, the last one is still held.
	testutil.WaitFor(t, 20*time.Second, "three replayed events", func() bool { return len(s.tap.replays()) >= 3 })
	time.Sleep(3 * time.Second)
	if l := s.list(t, Filter{}); l.Scanned != 0 {
		t.Errorf("a reader saw %d dead letters while the replay held them", l.Scanned)
	}
	sum := <-done
	if sum.Replayed != 4 {
		t.Errorf("replay: %s, want 4 replayed", sum)
	}
	testutil.WaitFor(t, 10*time.Second, "four replayed events", func() bool { return len(s.tap.replays()) >= 4 })
	if n := len(s.tap.replays()); n != 4 {
		t.Errorf("%d messages republished, want 4", n)
	}
	if l := s.list(t, Filter{}); l.Scanned != 0 {
		t.Errorf("%d dead letters left, want none", l.Scanned)
	}
}

func TestMissingSubscription(t *testing.T) {
	t.Parallel()
	emu := emulator.Start(t)
	n := tpubsub.Names{Project: emulator.Project, InputTopic: "in-missing", Subscription: "sub-missing", OutputTopic: "out-missing",
		DeadLetterTopic: "dead-missing", DeadLetterSubscription: emulator.ID(t, "dead-replay")}
	_, err := List(context.Background(), emu.NewClient(t), n, Options{QuietPeriod: testQuiet})
	if err == nil || !strings.Contains(err.Error(), "does not exist (run `turnstile setup`)") {
		t.Errorf("List on a missing subscription: %v, want it to say so", err)
	}
}

// The command helper parses flags, runs the command and reports.
func TestFlagsRun(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ids := s.deadLetterMalformed(t, "run-1", "2026-08-01", "run-2", "2026-08-02")
	run := func(verb string, args ...string) string {
		t.Helper()
		fs := flag.NewFlagSet("dlq "+verb, flag.ContinueOnError)
		f, err := AddFlags(fs, verb)
		if err != nil {
			t.Fatal(err)
		}
		if err := fs.Parse(append([]string{"--quiet-period", testQuiet.String()}, args...)); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := f.Run(ctx, s.client, s.n, DefaultMaxReplays, &out); err != nil {
			t.Fatalf("dlq %s %v: %v\n%s", verb, args, err, out.String())
		}
		return out.String()
	}

	table := run(VerbList)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "MESSAGE ID") || lines[3] != "2 of 2 dead letters listed" {
		t.Errorf("dlq list printed:\n%s\nwant a header, 2 rows and a count", table)
	}
	for _, line := range lines[1:3] {
		if f := strings.Fields(line); !strings.Contains(line, "malformed JSON") || len(f) < 4 || f[3] != "permanent" {
			t.Errorf("row %q: want a permanent error about malformed JSON", line)
		}
	}

	var sources []string
	for _, line := range strings.Split(strings.TrimSpace(run(VerbList, "--json", "--partition", "2026-08-02")), "\n") {
		var e Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("dlq list --json line %q: %v", line, err)
		}
		sources = append(sources, e.SourceMessageID)
	}
	if diff := cmp.Diff(ids[1:], sources); diff != "" {
		t.Errorf("dlq list --json --partition 2026-08-02: source message ids (-want +got):\n%s", diff)
	}

	if out := run(VerbReplay, "--dry-run"); !strings.HasSuffix(out, "dry run: matched 2 of 2 dead letters: would replay 2, skipped 0\n") {
		t.Errorf("dlq replay --dry-run printed:\n%s", out)
	}
	if out := run(VerbDrop); !strings.Contains(out, "would drop 2") {
		t.Errorf("dlq drop printed:\n%s", out)
	}
	var sum DropSummary
	if err := json.Unmarshal([]byte(run(VerbDrop, "--yes", "--json")), &sum); err != nil || sum.Dropped != 2 || len(sum.Results) != 2 {
		t.Errorf("dlq drop --yes --json: %+v, %v; want 2 dropped", sum, err)
	}
	if out := run(VerbList); !strings.HasSuffix(out, "0 of 0 dead letters listed\n") {
		t.Errorf("dlq list after the drop printed:\n%s", out)
	}
}
