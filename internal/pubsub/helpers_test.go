package pubsub

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/turnstile-dev/turnstile/internal/events"
	"github.com/turnstile-dev/turnstile/internal/pubsub/emulator"
	"github.com/turnstile-dev/turnstile/internal/testutil"
	"github.com/turnstile-dev/turnstile/worker"
)

func TestMain(m *testing.M) { emulator.Main(m) }

// fake is an in-process Pub/Sub server with a client.
type fake struct {
	srv    *pstest.Server
	client *pubsub.Client
}

func newFake(tb testing.TB) *fake {
	tb.Helper()
	srv := pstest.NewServer()
	client, err := NewClient(context.Background(), "test-project", srv.Addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = client.Close()
		_ = srv.Close()
	})
	return &fake{srv: srv, client: client}
}

// published returns the messages published to topic id of n.
func (f *fake) published(n Names, topicID string) []*pstest.Message {
	var out []*pstest.Message
	for _, m := range f.srv.Messages() {
		if m.Topic == n.TopicPath(topicID) {
			out = append(out, m)
		}
	}
	return out
}

func testNames(project, prefix string) Names {
	return Names{
		Project:                project,
		InputTopic:             prefix + "stage5",
		Subscription:           prefix + "stage6-worker",
		OutputTopic:            prefix + "stage6",
		DeadLetterTopic:        prefix + "stage5-dead",
		DeadLetterSubscription: prefix + "stage5-dead-replay",
	}
}

// setUp runs Setup and fails tb on an error.
func setUp(tb testing.TB, client *pubsub.Client, n Names, o SetupOptions) Report {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := Setup(ctx, client, n, o)
	if err != nil {
		tb.Fatalf("Setup: %v", err)
	}
	return r
}

func mustDate(tb testing.TB, s string) civil.Date {
	tb.Helper()
	d, err := civil.ParseDate(s)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// publish publishes a stage5.complete event for day to n.InputTopic.
func publish(tb testing.TB, client *pubsub.Client, n Names, runID, day string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := PublishStage5(ctx, client, n.InputTopic, events.Stage5{RunID: runID, PartitionDate: mustDate(tb, day)})
	if err != nil {
		tb.Fatalf("PublishStage5: %v", err)
	}
	return id
}

// publishRaw publishes arbitrary data and attributes to n.InputTopic.
func publishRaw(tb testing.TB, client *pubsub.Client, n Names, data string, attrs map[string]string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := client.Publisher(n.InputTopic)
	defer p.Stop()
	id, err := p.Publish(ctx, &pubsub.Message{Data: []byte(data), Attributes: attrs}).Get(ctx)
	if err != nil {
		tb.Fatalf("publish: %v", err)
	}
	return id
}

// running is a Worker started by start.
type running struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	err    error         // what Run returned
}

// start runs w until stop is called or the test ends, and waits until it
// is ready.
func start(tb testing.TB, w *Worker) *running {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		r.err = w.Run(ctx)
		close(r.done)
	}()
	tb.Cleanup(func() { r.stop(tb) })
	testutil.WaitFor(tb, 10*time.Second, "the worker to be ready", func() bool {
		select {
		case <-r.done:
			return true
		default:
			return w.Ready()
		}
	})
	select {
	case <-r.done:
		tb.Fatalf("worker stopped before it was ready: %v", r.err)
	default:
	}
	return r
}

// stop cancels the worker and returns what Run returned.
func (r *running) stop(tb testing.TB) error {
	tb.Helper()
	r.cancel()
	select {
	case <-r.done:
		return r.err
	case <-time.After(30 * time.Second):
		tb.Fatal("worker did not stop within 30s")
		return nil
	}
}

// fakeProcessor records its calls and answers with fn.
type fakeProcessor struct {
	fn func(ctx context.Context, req worker.Request, call int) (worker.Summary, error)

	mu       sync.Mutex
	calls    []worker.Request
	inFlight map[civil.Date]int
	maxSame  int // most calls for one partition at once
	total    int // calls in flight
	maxTotal int // most calls in flight at once
}

func (p *fakeProcessor) Process(ctx context.Context, req worker.Request) (worker.Summary, error) {
	p.mu.Lock()
	p.calls = append(p.calls, req)
	call := len(p.calls)
	if p.inFlight == nil {
		p.inFlight = make(map[civil.Date]int)
	}
	p.inFlight[req.Day]++
	p.maxSame = max(p.maxSame, p.inFlight[req.Day])
	p.total++
	p.maxTotal = max(p.maxTotal, p.total)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inFlight[req.Day]--
		p.total--
		p.mu.Unlock()
	}()
	if p.fn == nil {
		return summaryFor(req), nil
	}
	return p.fn(ctx, req, call)
}

func (p *fakeProcessor) callCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

func (p *fakeProcessor) requests() []worker.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]worker.Request(nil), p.calls...)
}

var summaryStart = time.Date(2026, 1, 22, 10, 0, 0, 0, time.UTC)

func summaryFor(req worker.Request) worker.Summary {
	return worker.Summary{
		Partition: req.Day.String(), RunID: req.RunID, TurnsTable: "turns",
		Conversations: 3, SessionsProcessed: 2, MessagesRead: 11, TurnsCreated: 5,
		StartedAt: summaryStart, CompletedAt: summaryStart.Add(time.Second),
	}
}

func notReady(req worker.Request) error {
	return &worker.StepError{Step: worker.StepInput, Partition: req.Day, RunID: req.RunID, Class: worker.Retryable,
		Err: fmt.Errorf("partition %s holds 0 conversations: %w", req.Day, worker.ErrNotReady)}
}

// logBuffer collects JSON log lines.
type logBuffer struct{ testutil.SyncBuffer }

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// outcomes returns the per-message log records, decoded.
func (b *logBuffer) outcomes(tb testing.TB) []map[string]any {
	tb.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			tb.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if _, ok := rec["outcome"]; ok {
			out = append(out, rec)
		}
	}
	return out
}
