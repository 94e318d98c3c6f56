package pubsub

// Tests against the gcloud Pub/Sub emulator: they skip when it is not
// installed (set TURNSTILE_REQUIRE_EMULATOR=1 to fail instead). One emulator
// serves the test binary; each test uses its own topics and subscriptions.

import (
	"context"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/google/go-cmp/cmp"

	"github.com/turnstile-dev/turnstile/internal/events"
	"github.com/turnstile-dev/turnstile/internal/identity"
	"github.com/turnstile-dev/turnstile/internal/pubsub/emulator"
	"github.com/turnstile-dev/turnstile/internal/testutil"
	"github.com/turnstile-dev/turnstile/worker"
)

// emulatorNames returns names unique to tb in the emulator's project.
func emulatorNames(tb testing.TB) Names {
	return Names{
		Project:                emulator.Project,
		InputTopic:             emulator.ID(tb, "stage5"),
		Subscription:           emulator.ID(tb, "worker"),
		OutputTopic:            emulator.ID(tb, "stage6"),
		DeadLetterTopic:        emulator.ID(tb, "dead"),
		DeadLetterSubscription: emulator.ID(tb, "dead-replay"),
	}
}

// receive pulls want messages from subscription id, acks them and returns
// them; it fails tb when they do not arrive within timeout.
func receive(tb testing.TB, client *pubsub.Client, id string, want int, timeout time.Duration) []*pubsub.Message {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var (
		mu  sync.Mutex
		got []*pubsub.Message
	)
	err := client.Subscriber(id).Receive(ctx, func(_ context.Context, m *pubsub.Message) {
		m.Ack()
		mu.Lock()
		defer mu.Unlock()
		got = append(got, m)
		if len(got) >= want {
			cancel()
		}
	})
	if err != nil {
		tb.Fatalf("receive from %s: %v", id, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) < want {
		tb.Fatalf("received %d messages from %s within %s, want %d", len(got), id, timeout, want)
	}
	return got
}

// subscribe creates a plain subscription on topic id of n.
func subscribe(tb testing.TB, client *pubsub.Client, n Names, topicID, subID string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: n.SubscriptionPath(subID), Topic: n.TopicPath(topicID), AckDeadlineSeconds: 10})
	if err != nil {
		tb.Fatalf("create subscription %s: %v", subID, err)
	}
}

func TestEmulatorSetup(t *testing.T) {
	emu := emulator.Start(t)
	client := emu.NewClient(t)
	checkSetupReports(t, client, emulatorNames(t), SetupOptions{MaxDeliveryAttempts: 5, MinBackoff: time.Second, MaxBackoff: 5 * time.Second})
}

func TestEmulatorMalformedEventIsDeadLetteredAndNextIsProcessed(t *testing.T) {
	emu := emulator.Start(t)
	client := emu.NewClient(t)
	n := emulatorNames(t)
	setUp(t, client, n, SetupOptions{})
	outSub := emulator.ID(t, "stage6-check")
	subscribe(t, client, n, n.OutputTopic, outSub)
	p := &fakeProcessor{}
	logs := &logBuffer{}
	start(t, &Worker{Client: client, Names: n, Processor: p, Logger: logs.logger(), Now: func() time.Time { return failedAt }})

	data := `{"schema_version": 1, "event_type": "stage5.complete", "partition_date": "2026-01-22", "run_id": "r1"` // truncated
	attrs := map[string]string{"event_type": "stage5.complete", "partition_date": "2026-01-22"}
	bad := publishRaw(t, client, n, data, attrs)
	good := publish(t, client, n, "run-9", "2026-01-22")

	dead := receive(t, client, n.DeadLetterSubscription, 1, 30*time.Second)
	checkDeadLetter(t, dead[0].Data, dead[0].Attributes, data, attrs, bad,
		deadLetterWant{class: "permanent", step: "decode", attempt: "1", errContains: "malformed JSON"})

	out := receive(t, client, outSub, 1, 30*time.Second)
	e, err := events.DecodeStage6(out[0].Data)
	if err != nil {
		t.Fatalf("output is not a stage6.complete event: %v", err)
	}
	if want := identity.MustID("EVT6", "run-9", "2026-01-22"); e.EventID != want || e.SourceMessageID != good {
		t.Errorf("stage6.complete event_id %q source %q, want %q and %q", e.EventID, e.SourceMessageID, want, good)
	}
	if got := p.callCount(); got != 1 {
		t.Errorf("Process called %d times, want 1", got)
	}
}

func TestEmulatorNotReadyIsDeadLetteredAfterMaxAttempts(t *testing.T) {
	emu := emulator.Start(t)
	client := emu.NewClient(t)
	n := emulatorNames(t)
	setUp(t, client, n, SetupOptions{MaxDeliveryAttempts: 5, MinBackoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	p := &fakeProcessor{fn: func(_ context.Context, req worker.Request, _ int) (worker.Summary, error) {
		return worker.Summary{}, notReady(req)
	}}
	logs := &logBuffer{}
	// MaxDeliveryAttempts is left zero: the worker reads it from the subscription.
	start(t, &Worker{Client: client, Names: n, Processor: p, Logger: logs.logger(), Now: func() time.Time { return failedAt }})

	data, attrs, err := events.Stage5{RunID: "run-5", PartitionDate: mustDate(t, "2026-01-25")}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	id := publishRaw(t, client, n, string(data), attrs)

	dead := receive(t, client, n.DeadLetterSubscription, 1, 50*time.Second)
	checkDeadLetter(t, dead[0].Data, dead[0].Attributes, string(data), attrs, id,
		deadLetterWant{class: "retryable", step: "check_input", attempt: "5", errContains: "partition not ready"})
	if got := p.callCount(); got != 5 {
		t.Errorf("Process called %d times, want 5", got)
	}
	var outcomes []string
	for _, rec := range logs.outcomes(t) {
		outcomes = append(outcomes, rec["outcome"].(string))
	}
	want := []string{"nacked", "nacked", "nacked", "nacked", "dead_lettered"}
	if diff := cmp.Diff(want, outcomes); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
}

func TestEmulatorDuplicateDeliveriesNeverOverlap(t *testing.T) {
	emu := emulator.Start(t)
	client := emu.NewClient(t)
	n := emulatorNames(t)
	setUp(t, client, n, SetupOptions{})
	p := &fakeProcessor{fn: func(_ context.Context, req worker.Request, _ int) (worker.Summary, error) {
		time.Sleep(300 * time.Millisecond) // the work, long enough for deliveries to overlap
		return summaryFor(req), nil
	}}
	logs := &logBuffer{}
	start(t, &Worker{Client: client, Names: n, Processor: p, MaxConcurrent: 4, Logger: logs.logger()})

	// One event published three times (as a retrying stage 5 would), and
	// an event for another partition.
	data, attrs, err := events.Stage5{RunID: "run-1", PartitionDate: mustDate(t, "2026-01-22")}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		publishRaw(t, client, n, string(data), attrs)
	}
	publish(t, client, n, "run-1", "2026-01-23")

	testutil.WaitFor(t, 40*time.Second, "four acked events", func() bool {
		acked := 0
		for _, rec := range logs.outcomes(t) {
			if rec["outcome"] == "acked" {
				acked++
			}
		}
		return acked == 4
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.maxSame != 1 {
		t.Errorf("up to %d calls for one partition ran at once, want 1", p.maxSame)
	}
	if p.maxTotal < 2 {
		t.Errorf("at most %d calls ran at once, want the two partitions to overlap", p.maxTotal)
	}
}
