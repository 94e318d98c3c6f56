package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/turnstile-dev/turnstile/config"
	"github.com/turnstile-dev/turnstile/internal/events"
	tpubsub "github.com/turnstile-dev/turnstile/internal/pubsub"
	"github.com/turnstile-dev/turnstile/internal/synth"
	"github.com/turnstile-dev/turnstile/worker"
)

// demoPartitions are the partitions the demo generates and announces.
var demoPartitions = []struct {
	day           civil.Date
	conversations int
}{
	{civil.Date{Year: 2026, Month: 1, Day: 20}, 1000},
	{civil.Date{Year: 2026, Month: 1, Day: 21}, 2500},
	{civil.Date{Year: 2026, Month: 1, Day: 22}, 4000},
}

// demoMalformed is the bad event the demo publishes: a date that does not exist.
const demoMalformed = `{"schema_version": 1, "event_type": "stage5.complete", "run_id": "run-demo-bad", "partition_date": "2026-02-30"}`

// runDemo runs the whole chain in one process: an in-process Pub/Sub
// server, a DuckDB file, the worker, generated partitions, their
// stage5.complete events and one malformed event.
func runDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "demo", "[--db FILE] [--timeout DUR]")
	db := fs.String("db", "turnstile-demo.duckdb", "DuckDB file the demo (re)creates")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up when the events are not all handled by then")
	if err := parseArgs(e, fs, args, nil, false); err != nil {
		return err
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	// The demo always runs on embedded parts, whatever the environment says.
	cfg.Warehouse = config.WarehouseDuckDB
	cfg.DuckDBPath = *db
	cfg.Project = "turnstile-demo"
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	start := time.Now()
	out := e.stdout

	for _, p := range []string{*db, *db + ".wal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("demo: remove the previous demo database: %w", err)
		}
	}
	wh, err := openWarehouse(ctx, cfg)
	if err != nil {
		return err
	}
	defer wh.Close()

	fmt.Fprintf(out, "turnstile demo: DuckDB at %s, Pub/Sub in process\n\n", *db)
	fmt.Fprintln(out, "1. stage 5 output: generated conversations")
	for i, p := range demoPartitions {
		r := synth.New(synth.Options{Seed: uint64(i + 1), Conversations: p.conversations, Source: "synthetic", Day: p.day})
		res, err := wh.Import(ctx, p.day, fmt.Sprintf("run-demo-stage5-%d", i+1), r)
		if err != nil {
			return fmt.Errorf("demo: generate partition %s: %w", p.day, err)
		}
		fmt.Fprintf(out, "   %s  %6d conversations  %7d messages\n", p.day, res.Conversations, res.Messages)
	}

	srv := pstest.NewServer()
	defer srv.Close()
	client, err := tpubsub.NewClient(ctx, cfg.Project, srv.Addr)
	if err != nil {
		return err
	}
	defer client.Close()
	n := names(cfg)
	if _, err := tpubsub.Setup(ctx, client, n, tpubsub.SetupOptions{MaxDeliveryAttempts: cfg.MaxDeliveryAttempts, MinBackoff: time.Second}); err != nil {
		return fmt.Errorf("demo: setup: %w", err)
	}
	// A subscription on the output topic, standing in for stage 7.
	watch := "stage6-complete-demo-watch"
	if _, err := client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: n.SubscriptionPath(watch), Topic: n.TopicPath(n.OutputTopic),
	}); err != nil {
		return fmt.Errorf("demo: subscribe to %s: %w", n.OutputTopic, err)
	}

	rec := &recordingProcessor{next: &worker.Processor{Warehouse: wh, TurnsTable: wh.TurnsTableName()}, done: map[civil.Date]worker.Summary{}}
	w := &tpubsub.Worker{
		Client: client, Names: n, Processor: rec,
		MaxConcurrent: cfg.MaxConcurrentPartitions, MaxDeliveryAttempts: cfg.MaxDeliveryAttempts,
		ShutdownTimeout: cfg.ShutdownTimeout, Logger: discardLogger(),
	}
	workerCtx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	workerDone := make(chan error, 1)
	go func() { workerDone <- w.Run(workerCtx) }()

	fmt.Fprintln(out, "\n2. stage5.complete events published")
	pub := client.Publisher(n.InputTopic)
	for i, p := range demoPartitions {
		count := int64(p.conversations)
		ev := events.Stage5{RunID: fmt.Sprintf("run-demo-%d", i+1), PartitionDate: p.day, ConversationCount: &count}
		id, err := tpubsub.PublishStage5(ctx, client, n.InputTopic, ev)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		fmt.Fprintf(out, "   %s  run %s  message %s\n", p.day, ev.RunID, id)
	}
	badID, err := pub.Publish(ctx, &pubsub.Message{Data: []byte(demoMalformed), Attributes: map[string]string{"event_type": "stage5.complete"}}).Get(ctx)
	pub.Stop()
	if err != nil {
		return fmt.Errorf("demo: publish the malformed event: %w", err)
	}
	fmt.Fprintf(out, "   malformed event (partition_date 2026-02-30)  message %s\n", badID)

	done, err := receiveN(ctx, client, watch, len(demoPartitions))
	if err != nil {
		return fmt.Errorf("demo: waiting for stage6.complete events: %w", err)
	}
	dead, err := receiveN(ctx, client, n.DeadLetterSubscription, 1)
	if err != nil {
		return fmt.Errorf("demo: waiting for the dead-lettered event: %w", err)
	}
	stopWorker()
	if err := <-workerDone; err != nil {
		return fmt.Errorf("demo: worker: %w", err)
	}

	fmt.Fprintln(out, "\n3. stage 6 ran for each partition")
	fmt.Fprintln(out, "   partition   conversations  messages  turns  complete  duplicates  unknown_role  ms")
	for _, p := range demoPartitions {
		s := rec.summary(p.day)
		fmt.Fprintf(out, "   %s  %13d  %8d  %5d  %8d  %10d  %12d  %d\n", s.Partition, s.Conversations, s.MessagesRead,
			s.TurnsCreated, s.CompleteTurns, s.DuplicateMessages, s.UnknownRoleMessages, s.DurationMS)
	}

	fmt.Fprintf(out, "\n4. stage6.complete events on %s (what stage 7 receives)\n", n.OutputTopic)
	for _, m := range done {
		fmt.Fprintf(out, "   %s\n", m.Data)
	}

	fmt.Fprintf(out, "\n5. dead-lettered on %s\n", n.DeadLetterTopic)
	for _, m := range dead {
		fmt.Fprintf(out, "   data: %s\n", m.Data)
		keys := make([]string, 0, len(m.Attributes))
		for k := range m.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(out, "   %s: %s\n", k, m.Attributes[k])
		}
	}

	abs, _ := filepath.Abs(*db)
	fmt.Fprintf(out, "\nDone in %s. The turns are in %s; look at them with\n", time.Since(start).Round(10*time.Millisecond), abs)
	fmt.Fprintf(out, "   TURNSTILE_DUCKDB_PATH=%s go run ./cmd/turnstile export --partition %s | head -n 3\n", abs, demoPartitions[0].day)
	fmt.Fprintf(out, "or, with the duckdb CLI: duckdb %s \"SELECT ingestion_date, count(*) FROM turns GROUP BY ALL\"\n", abs)
	return nil
}

// receiveN pulls n messages from subscription id, acks them, and returns
// them in arrival order.
func receiveN(ctx context.Context, client *pubsub.Client, id string, n int) ([]*pubsub.Message, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu  sync.Mutex
		got []*pubsub.Message
	)
	err := client.Subscriber(id).Receive(ctx, func(_ context.Context, m *pubsub.Message) {
		m.Ack()
		mu.Lock()
		defer mu.Unlock()
		if len(got) < n {
			got = append(got, m)
		}
		if len(got) == n {
			cancel()
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if len(got) < n {
		if err == nil {
			err = ctx.Err()
		}
		return got, fmt.Errorf("received %d of %d messages: %w", len(got), n, err)
	}
	return got, nil
}

// recordingProcessor keeps each partition's last summary for the report.
type recordingProcessor struct {
	next *worker.Processor
	mu   sync.Mutex
	done map[civil.Date]worker.Summary
}

func (r *recordingProcessor) Process(ctx context.Context, req worker.Request) (worker.Summary, error) {
	s, err := r.next.Process(ctx, req)
	if err == nil {
		r.mu.Lock()
		r.done[req.Day] = s
		r.mu.Unlock()
	}
	return s, err
}

func (r *recordingProcessor) summary(d civil.Date) worker.Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done[d]
}
