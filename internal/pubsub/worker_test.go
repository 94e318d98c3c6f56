package pubsub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/google/go-cmp/cmp"

	"github.com/turnstile-dev/turnstile/internal/events"
	"github.com/turnstile-dev/turnstile/internal/identity"
	"github.com/turnstile-dev/turnstile/internal/testutil"
	"github.com/turnstile-dev/turnstile/worker"
)

var failedAt = time.Date(2026, 1, 22, 12, 30, 0, 0, time.UTC)

func newTestWorker(f *fake, n Names, p Processor, logs *logBuffer) *Worker {
	return &Worker{
		Client:          f.client,
		Names:           n,
		Processor:       p,
		MaxConcurrent:   2,
		ShutdownTimeout: 5 * time.Second,
		Logger:          logs.logger(),
		Now:             func() time.Time { return failedAt },
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	retryable := &worker.StepError{Step: worker.StepRead, Class: worker.Retryable, Err: errors.New("warehouse unavailable")}
	notReady := &worker.StepError{Step: worker.StepInput, Class: worker.Retryable, Err: fmt.Errorf("empty: %w", worker.ErrNotReady)}
	tests := []struct {
		name        string
		err         error
		attempt     int
		maxAttempts int
		want        verdict
	}{
		{name: "success", err: nil, attempt: 1, maxAttempts: 5, want: verdictAck},
		{name: "success at the last attempt", err: nil, attempt: 5, maxAttempts: 5, want: verdictAck},
		{name: "permanent step error", err: &worker.StepError{Step: worker.StepInput, Class: worker.Permanent, Err: worker.MarkPermanent(errors.New("no table"))}, attempt: 1, maxAttempts: 5, want: verdictDeadLetter},
		{name: "step error classed permanent without a marked cause", err: &worker.StepError{Step: worker.StepOutput, Class: worker.Permanent, Err: errors.New("count mismatch")}, attempt: 1, maxAttempts: 5, want: verdictDeadLetter},
		{name: "decode error", err: worker.MarkPermanent(errors.New("malformed JSON")), attempt: 1, maxAttempts: 5, want: verdictDeadLetter},
		{name: "retryable", err: retryable, attempt: 1, maxAttempts: 5, want: verdictNack},
		{name: "not ready before the last attempt", err: notReady, attempt: 4, maxAttempts: 5, want: verdictNack},
		{name: "not ready at the last attempt", err: notReady, attempt: 5, maxAttempts: 5, want: verdictDeadLetter},
		{name: "not ready past the last attempt", err: notReady, attempt: 7, maxAttempts: 5, want: verdictDeadLetter},
		{name: "other retryable at the last attempt", err: retryable, attempt: 5, maxAttempts: 5, want: verdictDeadLetter},
		{name: "unknown attempt", err: notReady, attempt: 0, maxAttempts: 5, want: verdictNack},
		{name: "no limit", err: notReady, attempt: 99, maxAttempts: 0, want: verdictNack},
		{name: "plain error is retryable", err: errors.New("connection reset"), attempt: 1, maxAttempts: 5, want: verdictNack},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := decide(tc.err, tc.attempt, tc.maxAttempts); got != tc.want {
				t.Errorf("decide(%v, %d, %d) = %d, want %d", tc.err, tc.attempt, tc.maxAttempts, got, tc.want)
			}
		})
	}
}

func TestTruncateUTF8(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{name: "short", in: "abc", n: 5, want: "abc"},
		{name: "exact", in: "abcde", n: 5, want: "abcde"},
		{name: "ascii cut", in: "abcdef", n: 4, want: "abcd"},
		{name: "cut inside a two-byte rune", in: "aé", n: 2, want: "a"},
		{name: "cut after a rune", in: "éa", n: 2, want: "é"},
		{name: "cut inside a four-byte rune", in: "ab😀", n: 5, want: "ab"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := truncateUTF8(tc.in, tc.n); got != tc.want {
				t.Errorf("truncateUTF8(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}

func TestWorkerProcessesEvent(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	n := testNames("test-project", "")
	setUp(t, f.client, n, SetupOptions{})
	p := &fakeProcessor{}
	logs := &logBuffer{}
	r := start(t, newTestWorker(f, n, p, logs))

	day := mustDate(t, "2026-01-22")
	count := int64(3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := PublishStage5(ctx, f.client, n.InputTopic, events.Stage5{RunID: "run-1", PartitionDate: day, ConversationCount: &count})
	if err != nil {
		t.Fatalf("PublishStage5: %v", err)
	}
	testutil.WaitFor(t, 10*time.Second, "the event to be acked", func() bool {
		return f.srv.Message(id).Acks == 1 && len(logs.outcomes(t)) == 1
	})
	if err := r.stop(t); err != nil {
		t.Errorf("Run after shutdown = %v, want nil", err)
	}

	wantReq := []worker.Request{{Day: day, RunID: "run-1", ExpectConversations: &count}}
	if diff := cmp.Diff(wantReq, p.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	out := f.published(n, n.OutputTopic)
	if len(out) != 1 {
		t.Fatalf("%d messages on the output topic, want 1", len(out))
	}
	got, err := events.DecodeStage6(out[0].Data)
	if err != nil {
		t.Fatalf("output is not a stage6.complete event: %v", err)
	}
	want := events.Stage6{
		SchemaVersion: 1, EventType: "stage6.complete",
		EventID: identity.MustID("EVT6", "run-1", "2026-01-22"),
		RunID:   "run-1", PartitionDate: day, TurnsTable: "turns",
		TurnsCreated: 5, SessionsProcessed: 2, MessagesRead: 11, SourceMessageID: id,
		StartedAt: summaryStart, CompletedAt: summaryStart.Add(time.Second),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stage6.complete (-want +got):\n%s", diff)
	}
	wantAttrs := map[string]string{"event_type": "stage6.complete", "schema_version": "1", "partition_date": "2026-01-22", "run_id": "run-1"}
	if diff := cmp.Diff(wantAttrs, out[0].Attributes); diff != "" {
		t.Errorf("stage6.complete attributes (-want +got):\n%s", diff)
	}
	if dead := f.published(n, n.DeadLetterTopic); len(dead) != 0 {
		t.Errorf("%d messages dead-lettered, want none", len(dead))
	}

	recs := logs.outcomes(t)
	wantLog := map[string]any{"partition": "2026-01-22", "run_id": "run-1", "message_id": id,
		"delivery_attempt": 1.0, "outcome": "acked", "event_id": want.EventID, "turns_created": 5.0}
	gotLog := map[string]any{}
	for k := range wantLog {
		gotLog[k] = recs[0][k]
	}
	if diff := cmp.Diff(wantLog, gotLog); diff != "" {
		t.Errorf("outcome log (-want +got):\n%s", diff)
	}
	if _, ok := recs[0]["duration_ms"]; !ok {
		t.Errorf("outcome log %v has no duration_ms", recs[0])
	}
}

// deadLetterWant describes the expected dead letter of a scenario.
type deadLetterWant struct {
	class, step, attempt, errContains string
}

func TestWorkerOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		fn           func(ctx context.Context, req worker.Request, call int) (worker.Summary, error)
		wantCalls    int
		wantOutcomes []string
		wantOutput   int
		wantDead     *deadLetterWant
	}{
		{
			name: "retryable error is nacked and redelivered",
			fn: func(_ context.Context, req worker.Request, call int) (worker.Summary, error) {
				if call == 1 {
					return worker.Summary{}, &worker.StepError{Step: worker.StepRead, Partition: req.Day, RunID: req.RunID,
						Class: worker.Retryable, Err: errors.New("warehouse unavailable")}
				}
				return summaryFor(req), nil
			},
			wantCalls: 2, wantOutcomes: []string{"nacked", "acked"}, wantOutput: 1,
		},
		{
			name: "permanent error is dead-lettered at once",
			fn: func(_ context.Context, req worker.Request, _ int) (worker.Summary, error) {
				return worker.Summary{}, &worker.StepError{Step: worker.StepInput, Partition: req.Day, RunID: req.RunID,
					Class: worker.Permanent, Err: worker.MarkPermanent(errors.New("table conversations not found"))}
			},
			wantCalls: 1, wantOutcomes: []string{"dead_lettered"},
			wantDead: &deadLetterWant{class: "permanent", step: "check_input", attempt: "1", errContains: "table conversations not found"},
		},
		{
			name: "error marked permanent outside a step error",
			fn: func(context.Context, worker.Request, int) (worker.Summary, error) {
				return worker.Summary{}, worker.MarkPermanent(errors.New("invalid schema"))
			},
			wantCalls: 1, wantOutcomes: []string{"dead_lettered"},
			wantDead: &deadLetterWant{class: "permanent", step: "", attempt: "1", errContains: "invalid schema"},
		},
		{
			name: "not ready until the last attempt is dead-lettered with the reason",
			fn: func(_ context.Context, req worker.Request, _ int) (worker.Summary, error) {
				return worker.Summary{}, notReady(req)
			},
			wantCalls: 5, wantOutcomes: []string{"nacked", "nacked", "nacked", "nacked", "dead_lettered"},
			wantDead: &deadLetterWant{class: "retryable", step: "check_input", attempt: "5", errContains: "partition not ready"},
		},
		{
			name: "dry-run summary cannot become an event",
			fn: func(_ context.Context, req worker.Request, _ int) (worker.Summary, error) {
				s := summaryFor(req)
				s.DryRun = true
				return s, nil
			},
			wantCalls: 1, wantOutcomes: []string{"dead_lettered"},
			wantDead: &deadLetterWant{class: "permanent", step: "publish", attempt: "1", errContains: "dry run"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			n := testNames("test-project", "")
			setUp(t, f.client, n, SetupOptions{MaxDeliveryAttempts: 5})
			p := &fakeProcessor{fn: tc.fn}
			logs := &logBuffer{}
			start(t, newTestWorker(f, n, p, logs))

			attrs := map[string]string{"event_type": "stage5.complete", "schema_version": "1",
				"partition_date": "2026-01-22", "run_id": "run-7", "origin": "test"}
			data := `{"schema_version":1,"event_type":"stage5.complete","run_id":"run-7","partition_date":"2026-01-22"}`
			id := publishRaw(t, f.client, n, data, attrs)
			testutil.WaitFor(t, 20*time.Second, "the final outcome", func() bool {
				return f.srv.Message(id).Acks >= 1 && len(logs.outcomes(t)) >= len(tc.wantOutcomes)
			})

			var outcomes []string
			for _, rec := range logs.outcomes(t) {
				outcomes = append(outcomes, rec["outcome"].(string))
			}
			if diff := cmp.Diff(tc.wantOutcomes, outcomes); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
			if got := p.callCount(); got != tc.wantCalls {
				t.Errorf("Process called %d times, want %d", got, tc.wantCalls)
			}
			if got := len(f.published(n, n.OutputTopic)); got != tc.wantOutput {
				t.Errorf("%d stage6.complete events, want %d", got, tc.wantOutput)
			}
			dead := f.published(n, n.DeadLetterTopic)
			if tc.wantDead == nil {
				if len(dead) != 0 {
					t.Errorf("%d dead letters, want none", len(dead))
				}
				return
			}
			if len(dead) != 1 {
				t.Fatalf("%d dead letters, want 1", len(dead))
			}
			checkDeadLetter(t, dead[0].Data, dead[0].Attributes, data, attrs, id, *tc.wantDead)
		})
	}
}

// checkDeadLetter checks a dead letter against the original message.
func checkDeadLetter(tb testing.TB, gotData []byte, gotAttrs map[string]string, data string, attrs map[string]string, id string, want deadLetterWant) {
	tb.Helper()
	if string(gotData) != data {
		tb.Errorf("dead letter data = %q, want the original %q", gotData, data)
	}
	if msg := gotAttrs[AttrError]; !strings.Contains(msg, want.errContains) {
		tb.Errorf("%s = %q, want it to contain %q", AttrError, msg, want.errContains)
	}
	wantAttrs := map[string]string{
		AttrError:           gotAttrs[AttrError],
		AttrErrorClass:      want.class,
		AttrStep:            want.step,
		AttrFailedAt:        failedAt.Format(time.RFC3339),
		AttrSourceMessageID: id,
		AttrDeliveryAttempt: want.attempt,
	}
	for k, v := range attrs {
		wantAttrs[k] = v
	}
	if diff := cmp.Diff(wantAttrs, gotAttrs); diff != "" {
		tb.Errorf("dead letter attributes (-want +got):\n%s", diff)
	}
}

func TestWorkerDeadLettersMalformedEvent(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	n := testNames("test-project", "")
	setUp(t, f.client, n, SetupOptions{})
	p := &fakeProcessor{}
	logs := &logBuffer{}
	start(t, newTestWorker(f, n, p, logs))

	attrs := map[string]string{"event_type": "stage5.complete", "partition_date": "2026-01-22", "run_id": "run-1", "origin": "test"}
	bad := publishRaw(t, f.client, n, `{"schema_version": 1, "event_type": "stage5.complete", "run_id": `, attrs)
	good := publish(t, f.client, n, "run-2", "2026-01-23")
	testutil.WaitFor(t, 10*time.Second, "both events to be acked", func() bool {
		return f.srv.Message(bad).Acks == 1 && f.srv.Message(good).Acks == 1 && len(logs.outcomes(t)) == 2
	})

	dead := f.published(n, n.DeadLetterTopic)
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	checkDeadLetter(t, dead[0].Data, dead[0].Attributes, `{"schema_version": 1, "event_type": "stage5.complete", "run_id": `, attrs, bad,
		deadLetterWant{class: "permanent", step: "decode", attempt: "1", errContains: "malformed JSON"})
	if got := len(f.published(n, n.OutputTopic)); got != 1 {
		t.Errorf("%d stage6.complete events, want 1 (for the good event)", got)
	}
	if diff := cmp.Diff([]worker.Request{{Day: mustDate(t, "2026-01-23"), RunID: "run-2"}}, p.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	found := false
	for _, rec := range logs.outcomes(t) {
		if rec["message_id"] != bad {
			continue
		}
		found = true
		if rec["outcome"] != "dead_lettered" || rec["class"] != "permanent" || rec["step"] != "decode" ||
			!strings.Contains(fmt.Sprint(rec["error"]), "malformed JSON") ||
			rec["partition"] != "2026-01-22" || rec["run_id"] != "run-1" {
			t.Errorf("outcome log of the malformed event = %v", rec)
		}
	}
	if !found {
		t.Error("no outcome log for the malformed event")
	}
}

func TestWorkerNacksWhenOutputPublishFails(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	n := testNames("test-project", "")
	setUp(t, f.client, n, SetupOptions{})
	// The worker publishes to a topic that does not exist until the second
	// attempt has processed the partition.
	wn := n
	wn.OutputTopic = "stage6-missing"
	p := &fakeProcessor{fn: func(ctx context.Context, req worker.Request, call int) (worker.Summary, error) {
		if call == 2 {
			if _, err := f.client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: n.TopicPath(wn.OutputTopic)}); err != nil {
				return worker.Summary{}, err
			}
		}
		return summaryFor(req), nil
	}}
	logs := &logBuffer{}
	start(t, newTestWorker(f, wn, p, logs))

	id := publish(t, f.client, n, "run-3", "2026-01-24")
	testutil.WaitFor(t, 10*time.Second, "the event to be acked", func() bool {
		return f.srv.Message(id).Acks == 1 && len(logs.outcomes(t)) == 2
	})
	recs := logs.outcomes(t)
	first := recs[0]
	if first["outcome"] != "nacked" || first["step"] != "publish" || first["class"] != "retryable" {
		t.Errorf("first outcome = %v, want nacked at step publish, retryable", first)
	}
	if recs[1]["outcome"] != "acked" {
		t.Errorf("second outcome = %v, want acked", recs[1])
	}
	if got := p.callCount(); got != 2 {
		t.Errorf("Process called %d times, want 2", got)
	}
	out := f.published(wn, wn.OutputTopic)
	if len(out) != 1 {
		t.Fatalf("%d stage6.complete events, want 1", len(out))
	}
	if dead := f.published(n, n.DeadLetterTopic); len(dead) != 0 {
		t.Errorf("%d dead letters, want none", len(dead))
	}
}

func TestWorkerSerialisesPartitions(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	n := testNames("test-project", "")
	setUp(t, f.client, n, SetupOptions{})
	p := &fakeProcessor{fn: func(_ context.Context, req worker.Request, _ int) (worker.Summary, error) {
		time.Sleep(100 * time.Millisecond) // the work, long enough for deliveries to overlap
		return summaryFor(req), nil
	}}
	logs := &logBuffer{}
	w := newTestWorker(f, n, p, logs)
	w.MaxConcurrent = 4
	start(t, w)

	var ids []string
	for _, day := range []string{"2026-01-22", "2026-01-22", "2026-01-22", "2026-01-23", "2026-01-23", "2026-01-24"} {
		ids = append(ids, publish(t, f.client, n, "run-1", day))
	}
	testutil.WaitFor(t, 20*time.Second, "every event to be acked", func() bool {
		for _, id := range ids {
			if f.srv.Message(id).Acks != 1 {
				return false
			}
		}
		return true
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.maxSame != 1 {
		t.Errorf("up to %d calls for one partition ran at once, want 1", p.maxSame)
	}
	if p.maxTotal < 2 {
		t.Errorf("at most %d calls ran at once, want different partitions to run concurrently", p.maxTotal)
	}
	if len(p.calls) != len(ids) {
		t.Errorf("Process called %d times, want %d", len(p.calls), len(ids))
	}
}

func TestWorkerShutdownLetsInFlightWorkFinish(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	n := testNames("test-project", "")
	setUp(t, f.client, n, SetupOptions{})
	started, release := make(chan struct{}), make(chan struct{})
	ctxErrAtRelease := make(chan error, 1)
	p := &fakeProcessor{fn: func(ctx context.Context, req worker.Request, _ int) (worker.Summary, error) {
		close(started)
		<-release
		ctxErrAtRelease <- ctx.Err()
		return summaryFor(req), nil
	}}
	logs := &logBuffer{}
	w := newTestWorker(f, n, p, logs)
	r := start(t, w)

	id := publish(t, f.client, n, "run-1", "2026-01-22")
	<-started
	r.cancel()
	testutil.WaitFor(t, 5*time.Second, "the worker to report not ready", func() bool { return !w.Ready() })
	close(release)
	if err := r.stop(t); err != nil {
		t.Errorf("Run = %v, want nil after a clean shutdown", err)
	}
	if err := <-ctxErrAtRelease; err != nil {
		t.Errorf("processing context was cancelled (%v) within the shutdown timeout", err)
	}
	if got := f.srv.Message(id).Acks; got != 1 {
		t.Errorf("event acked %d times, want 1", got)
	}
	if got := len(f.published(n, n.OutputTopic)); got != 1 {
		t.Errorf("%d stage6.complete events, want 1", got)
	}
}

func TestWorkerShutdownTimeoutNacks(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	n := testNames("test-project", "")
	setUp(t, f.client, n, SetupOptions{})
	const timeout = 300 * time.Millisecond
	started := make(chan struct{})
	cancelledAfter := make(chan time.Time, 1)
	p := &fakeProcessor{fn: func(ctx context.Context, req worker.Request, _ int) (worker.Summary, error) {
		close(started)
		<-ctx.Done()
		cancelledAfter <- time.Now()
		return worker.Summary{}, &worker.StepError{Step: worker.StepRead, Partition: req.Day, RunID: req.RunID,
			Class: worker.Retryable, Err: ctx.Err()}
	}}
	logs := &logBuffer{}
	w := newTestWorker(f, n, p, logs)
	w.ShutdownTimeout = timeout
	r := start(t, w)

	id := publish(t, f.client, n, "run-1", "2026-01-22")
	<-started
	shutdownAt := time.Now()
	if err := r.stop(t); err != nil {
		t.Errorf("Run = %v, want nil after a clean shutdown", err)
	}
	if d := (<-cancelledAfter).Sub(shutdownAt); d < timeout-50*time.Millisecond {
		t.Errorf("processing context cancelled %s after shutdown began, want about %s", d, timeout)
	}
	if got := f.srv.Message(id).Acks; got != 0 {
		t.Errorf("event acked %d times, want 0 (nacked)", got)
	}
	recs := logs.outcomes(t)
	if len(recs) != 1 || recs[0]["outcome"] != "nacked" {
		t.Errorf("outcomes = %v, want one nacked", recs)
	}
	if len(f.published(n, n.OutputTopic))+len(f.published(n, n.DeadLetterTopic)) != 0 {
		t.Error("an interrupted event was published or dead-lettered")
	}
}

func TestWorkerRunErrors(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	n := testNames("test-project", "")
	setUp(t, f.client, n, SetupOptions{})
	noSub := n
	noSub.Subscription = "not-there"
	badNames := n
	badNames.OutputTopic = ""
	tests := []struct {
		name     string
		w        *Worker
		wantText string
	}{
		{name: "missing subscription", w: &Worker{Client: f.client, Names: noSub, Processor: &fakeProcessor{}}, wantText: "turnstile setup"},
		{name: "invalid names", w: &Worker{Client: f.client, Names: badNames, Processor: &fakeProcessor{}}, wantText: "output topic is empty"},
		{name: "no processor", w: &Worker{Client: f.client, Names: n}, wantText: "Processor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := tc.w.Run(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("Run = %v, want an error containing %q", err, tc.wantText)
			}
			if tc.w.Ready() {
				t.Error("Ready() = true after Run failed")
			}
		})
	}
}

func TestWorkerReadiness(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	n := testNames("test-project", "")
	setUp(t, f.client, n, SetupOptions{})
	w := newTestWorker(f, n, &fakeProcessor{}, &logBuffer{})
	if w.Ready() || w.CheckReady(context.Background()) == nil {
		t.Error("worker ready before Run")
	}
	r := start(t, w) // fails unless Ready becomes true
	if err := w.CheckReady(context.Background()); err != nil {
		t.Errorf("CheckReady while running = %v", err)
	}
	if err := r.stop(t); err != nil {
		t.Errorf("Run = %v", err)
	}
	if w.Ready() {
		t.Error("worker ready after Run returned")
	}
}
