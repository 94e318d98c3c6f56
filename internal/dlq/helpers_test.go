package dlq

// The harness of the emulator tests: the real topology (pubsub.Setup), the
// real pubsub.Worker with a fake Processor, and subscriptions that watch
// the input and output topics. Tests skip when the emulator is not
// installed (set TURNSTILE_REQUIRE_EMULATOR=1 to fail instead).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/turnstile-dev/turnstile/internal/events"
	tpubsub "github.com/turnstile-dev/turnstile/internal/pubsub"
	"github.com/turnstile-dev/turnstile/internal/pubsub/emulator"
	"github.com/turnstile-dev/turnstile/internal/testutil"
	"github.com/turnstile-dev/turnstile/worker"
)

func TestMain(m *testing.M) { emulator.Main(m) }

// testQuiet is the scan quiet period of the tests: the emulator answers a
// pull at once, so a short one sees everything, with room for a slow
// machine.
const testQuiet = time.Second

// stack is one test's topology on the shared emulator.
type stack struct {
	client *pubsub.Client
	n      tpubsub.Names
	tap    *watcher // every message published to the input topic
	out    *watcher // every stage6.complete event
	proc   *fakeProcessor
	logs   *logBuffer
}

func newStack(tb testing.TB) *stack {
	tb.Helper()
	emu := emulator.Start(tb)
	s := &stack{
		client: emu.NewClient(tb),
		n: tpubsub.Names{
			Project:                emulator.Project,
			InputTopic:             emulator.ID(tb, "stage5"),
			Subscription:           emulator.ID(tb, "worker"),
			OutputTopic:            emulator.ID(tb, "stage6"),
			DeadLetterTopic:        emulator.ID(tb, "dead"),
			DeadLetterSubscription: emulator.ID(tb, "dead-replay"),
		},
		proc: &fakeProcessor{},
		logs: &logBuffer{},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := tpubsub.Setup(ctx, s.client, s.n, tpubsub.SetupOptions{
		MaxDeliveryAttempts: 5, MinBackoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, AckDeadline: 10 * time.Second})
	if err != nil {
		tb.Fatalf("Setup: %v", err)
	}
	s.tap = s.watch(tb, s.n.InputTopic)
	s.out = s.watch(tb, s.n.OutputTopic)
	return s
}

// options are scan options with the tests' quiet period.
func (s *stack) options(f Filter) Options {
	return Options{Filter: f, QuietPeriod: testQuiet, Timeout: 20 * time.Second}
}

// list lists the dead letters that f selects and fails tb on an error.
func (s *stack) list(tb testing.TB, f Filter) Listing {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := List(ctx, s.client, s.n, s.options(f))
	if err != nil {
		tb.Fatalf("List: %v", err)
	}
	return l
}

// replay runs Replay and fails tb on an error.
func (s *stack) replay(tb testing.TB, o ReplayOptions) ReplaySummary {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sum, err := Replay(ctx, s.client, s.n, o)
	if err != nil {
		tb.Fatalf("Replay: %v\nsummary: %+v", err, sum)
	}
	return sum
}

// publish publishes a stage5.complete event to the input topic.
func (s *stack) publish(tb testing.TB, runID, day string) string {
	tb.Helper()
	d, err := civil.ParseDate(day)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := tpubsub.PublishStage5(ctx, s.client, s.n.InputTopic, events.Stage5{RunID: runID, PartitionDate: d})
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// publishMalformed publishes an event whose data is cut short, with the
// attributes of a real one (and extra, when given).
func (s *stack) publishMalformed(tb testing.TB, runID, day string, extra map[string]string) string {
	tb.Helper()
	attrs := map[string]string{"event_type": "stage5.complete", "schema_version": "1", "partition_date": day, "run_id": runID}
	for k, v := range extra {
		attrs[k] = v
	}
	data := fmt.Sprintf(`{"schema_version": 1, "event_type": "stage5.complete", "partition_date": %q, "run_id": %q`, day, runID)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.client.TopicAdminClient.Publish(ctx, &pubsubpb.PublishRequest{
		Topic: s.n.TopicPath(s.n.InputTopic), Messages: []*pubsubpb.PubsubMessage{{Data: []byte(data), Attributes: attrs}}})
	if err != nil {
		tb.Fatal(err)
	}
	return resp.MessageIds[0]
}

// startWorker runs a pubsub.Worker with s.proc until the returned function
// or the end of the test stops it.
func (s *stack) startWorker(tb testing.TB, maxDeliveryAttempts int) (stop func()) {
	tb.Helper()
	w := &tpubsub.Worker{Client: s.client, Names: s.n, Processor: s.proc, MaxConcurrent: 4,
		MaxDeliveryAttempts: maxDeliveryAttempts, ShutdownTimeout: 5 * time.Second, Logger: s.logs.logger()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					tb.Errorf("worker: %v", err)
				}
			case <-time.After(20 * time.Second):
				tb.Error("worker did not stop within 20s")
			}
		})
	}
	tb.Cleanup(stop)
	testutil.WaitFor(tb, 10*time.Second, "the worker to be ready", w.Ready)
	return stop
}

// deadLetterMalformed publishes malformed events for the given run ids and
// days (pairs) through a worker, waits until all are dead-lettered and
// stops the worker. It returns the ids of the published messages.
func (s *stack) deadLetterMalformed(tb testing.TB, runsAndDays ...string) []string {
	tb.Helper()
	stop := s.startWorker(tb, 0)
	var ids []string
	for i := 0; i < len(runsAndDays); i += 2 {
		ids = append(ids, s.publishMalformed(tb, runsAndDays[i], runsAndDays[i+1], nil))
	}
	s.waitOutcomes(tb, "dead_lettered", len(ids))
	stop()
	return ids
}

// waitOutcomes waits until the worker logged n outcomes of the given kind.
func (s *stack) waitOutcomes(tb testing.TB, outcome string, n int) {
	tb.Helper()
	testutil.WaitFor(tb, 60*time.Second, fmt.Sprintf("%d %s events", n, outcome), func() bool {
		return s.logs.count(tb, outcome) >= n
	})
}

// watcher collects the messages of a subscription of its own on a topic.
type watcher struct {
	mu   sync.Mutex
	msgs []*pubsub.Message
}

func (s *stack) watch(tb testing.TB, topicID string) *watcher {
	tb.Helper()
	id := emulator.ID(tb, "watch")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := s.client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: s.n.SubscriptionPath(id), Topic: s.n.TopicPath(topicID), AckDeadlineSeconds: 10})
	if err != nil {
		tb.Fatalf("create subscription on %s: %v", topicID, err)
	}
	w := &watcher{}
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.client.Subscriber(id).Receive(rctx, func(_ context.Context, m *pubsub.Message) {
			m.Ack()
			w.mu.Lock()
			defer w.mu.Unlock()
			w.msgs = append(w.msgs, m)
		})
	}()
	tb.Cleanup(func() {
		rcancel()
		<-done
	})
	return w
}

// replays returns the messages seen that a replay published.
func (w *watcher) replays() []*pubsub.Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*pubsub.Message
	for _, m := range w.msgs {
		if _, ok := m.Attributes[AttrReplayedAt]; ok {
			out = append(out, m)
		}
	}
	return out
}

func (w *watcher) all() []*pubsub.Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.msgs)
}

// stage6 decodes the stage6.complete events seen.
func (w *watcher) stage6(tb testing.TB) []events.Stage6 {
	tb.Helper()
	var out []events.Stage6
	for _, m := range w.all() {
		e, err := events.DecodeStage6(m.Data)
		if err != nil {
			tb.Fatalf("output message %s: %v", m.ID, err)
		}
		out = append(out, e)
	}
	return out
}

// fakeProcessor processes every partition, or fails as fail says.
type fakeProcessor struct {
	mu    sync.Mutex
	fail  func(worker.Request) error
	calls int
}

func (p *fakeProcessor) setFail(fail func(worker.Request) error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = fail
}

func (p *fakeProcessor) Process(_ context.Context, req worker.Request) (worker.Summary, error) {
	p.mu.Lock()
	p.calls++
	fail := p.fail
	p.mu.Unlock()
	if fail != nil {
		if err := fail(req); err != nil {
			return worker.Summary{}, err
		}
	}
	start := time.Now().UTC()
	return worker.Summary{Partition: req.Day.String(), RunID: req.RunID, TurnsTable: "turns",
		Conversations: 2, SessionsProcessed: 2, MessagesRead: 8, TurnsCreated: 4, StartedAt: start, CompletedAt: start}, nil
}

// notReady fails like a partition that stage 5 has not committed yet.
func notReady(req worker.Request) error {
	return &worker.StepError{Step: worker.StepInput, Partition: req.Day, RunID: req.RunID, Class: worker.Retryable,
		Err: fmt.Errorf("partition %s holds 0 conversations: %w", req.Day, worker.ErrNotReady)}
}

// tableMissing fails like a warehouse without the conversations table.
func tableMissing(req worker.Request) error {
	return &worker.StepError{Step: worker.StepInput, Partition: req.Day, RunID: req.RunID, Class: worker.Permanent,
		Err: worker.MarkPermanent(errors.New("table conversations not found"))}
}

// logBuffer collects the worker's JSON log lines.
type logBuffer struct{ testutil.SyncBuffer }

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, nil))
}

// count returns how many messages the worker logged with outcome.
func (b *logBuffer) count(tb testing.TB, outcome string) int {
	tb.Helper()
	n := 0
	for _, line := range strings.Split(b.String(), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			tb.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if rec["outcome"] == outcome {
			n++
		}
	}
	return n
}

// messageIDs returns the sorted dead-letter message ids of entries.
func messageIDs(entries []Entry) []string {
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.MessageID)
	}
	slices.Sort(out)
	return out
}

// resultIDs returns the sorted dead-letter message ids of the results with
// one of the outcomes.
func resultIDs(results []Result, outcomes ...Outcome) []string {
	var out []string
	for _, r := range results {
		if slices.Contains(outcomes, r.Outcome) {
			out = append(out, r.MessageID)
		}
	}
	slices.Sort(out)
	return out
}
