package main

// End-to-end tests of setup, publish and serve against the real gcloud
// Pub/Sub emulator and a DuckDB file. They skip when the emulator is not
// installed; TURNSTILE_REQUIRE_EMULATOR=1 makes that a failure. One
// emulator serves the test binary; each test uses topics and subscriptions
// of its own.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	_ "github.com/duckdb/duckdb-go/v2" // database/sql driver "duckdb", to look at the file from outside turnstile
	"github.com/google/go-cmp/cmp"

	"github.com/turnstile-dev/turnstile/internal/events"
	"github.com/turnstile-dev/turnstile/internal/identity"
	tpubsub "github.com/turnstile-dev/turnstile/internal/pubsub"
	"github.com/turnstile-dev/turnstile/internal/pubsub/emulator"
	"github.com/turnstile-dev/turnstile/internal/testutil"
)

func TestMain(m *testing.M) { emulator.Main(m) }

// stack is one test's share of the emulator plus its own DuckDB file, with
// the environment that points turnstile at both set for the test.
type stack struct {
	names  tpubsub.Names
	db     string
	client *pubsub.Client
}

// newStack starts (or joins) the emulator and sets every variable that
// turnstile reads from the environment to values unique to tb.
func newStack(tb testing.TB) *stack {
	tb.Helper()
	emu := emulator.Start(tb)
	s := &stack{
		names: tpubsub.Names{
			Project:                emu.Project,
			InputTopic:             emulator.ID(tb, "stage5"),
			Subscription:           emulator.ID(tb, "worker"),
			OutputTopic:            emulator.ID(tb, "stage6"),
			DeadLetterTopic:        emulator.ID(tb, "dead"),
			DeadLetterSubscription: emulator.ID(tb, "dead-replay"),
		},
		db:     filepath.Join(tb.TempDir(), "turnstile.duckdb"),
		client: emu.NewClient(tb),
	}
	for k, v := range map[string]string{
		"PUBSUB_EMULATOR_HOST":                emu.Host,
		"TURNSTILE_PROJECT":                   emu.Project,
		"TURNSTILE_INPUT_TOPIC":               s.names.InputTopic,
		"TURNSTILE_SUBSCRIPTION":              s.names.Subscription,
		"TURNSTILE_OUTPUT_TOPIC":              s.names.OutputTopic,
		"TURNSTILE_DEAD_LETTER_TOPIC":         s.names.DeadLetterTopic,
		"TURNSTILE_DEAD_LETTER_SUBSCRIPTION":  s.names.DeadLetterSubscription,
		"TURNSTILE_MAX_DELIVERY_ATTEMPTS":     "5",
		"TURNSTILE_MAX_CONCURRENT_PARTITIONS": "3",
		"TURNSTILE_HTTP_ADDR":                 "127.0.0.1:0",
		"TURNSTILE_SHUTDOWN_TIMEOUT":          "5s",
		"TURNSTILE_WAREHOUSE":                 "duckdb",
		"TURNSTILE_DUCKDB_PATH":               s.db,
		"TURNSTILE_DUCKDB_THREADS":            "2",
		"TURNSTILE_LOG_LEVEL":                 "info",
	} {
		tb.Setenv(k, v)
	}
	return s
}

// setUp creates the stack's topics and subscriptions with a short retry
// backoff, so that tests of retries take seconds (`turnstile setup` uses
// the production defaults of 10s to 600s).
func (s *stack) setUp(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := tpubsub.Setup(ctx, s.client, s.names, tpubsub.SetupOptions{
		MaxDeliveryAttempts: 5,
		MinBackoff:          100 * time.Millisecond,
		MaxBackoff:          time.Second,
		AckDeadline:         10 * time.Second,
	})
	if err != nil {
		tb.Fatalf("set up Pub/Sub: %v", err)
	}
}

// watch creates a subscription on the output topic, standing in for the
// next stage, and returns its id. Create it before anything is published:
// a topic drops what is published while it has no subscription.
func (s *stack) watch(tb testing.TB) string {
	tb.Helper()
	id := emulator.ID(tb, "stage7")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := s.client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: s.names.SubscriptionPath(id), Topic: s.names.TopicPath(s.names.OutputTopic), AckDeadlineSeconds: 10,
	})
	if err != nil {
		tb.Fatalf("subscribe to %s: %v", s.names.OutputTopic, err)
	}
	return id
}

// publishRaw publishes data and attrs to the input topic and returns the
// message id.
func (s *stack) publishRaw(tb testing.TB, data []byte, attrs map[string]string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := s.client.Publisher(s.names.InputTopic)
	defer p.Stop()
	id, err := p.Publish(ctx, &pubsub.Message{Data: data, Attributes: attrs}).Get(ctx)
	if err != nil {
		tb.Fatalf("publish to %s: %v", s.names.InputTopic, err)
	}
	return id
}

// receive pulls want messages from subscription id, acks them and returns
// them in arrival order; it fails tb when they do not arrive in time.
func (s *stack) receive(tb testing.TB, id string, want int, timeout time.Duration) []*pubsub.Message {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var (
		mu  sync.Mutex
		got []*pubsub.Message
	)
	err := s.client.Subscriber(id).Receive(ctx, func(_ context.Context, m *pubsub.Message) {
		m.Ack()
		mu.Lock()
		defer mu.Unlock()
		if len(got) < want {
			got = append(got, m)
		}
		if len(got) == want {
			cancel()
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if err != nil || len(got) < want {
		tb.Fatalf("received %d of %d messages from %s within %s (error: %v)", len(got), want, id, timeout, err)
	}
	return got
}

// generated is what `turnstile generate` reports.
type generated struct {
	Conversations int64 `json:"conversations"`
	Messages      int64 `json:"messages"`
}

func decodeGenerated(tb testing.TB, out []byte) generated {
	tb.Helper()
	var g generated
	if err := json.Unmarshal(out, &g); err != nil || g.Conversations == 0 || g.Messages == 0 {
		tb.Fatalf("generate printed %q (error %v), want conversation and message counts", out, err)
	}
	return g
}

// stage6 decodes a stage6.complete message and checks its filter
// attributes against its data.
func stage6(tb testing.TB, m *pubsub.Message) events.Stage6 {
	tb.Helper()
	e, err := events.DecodeStage6(m.Data)
	if err != nil {
		tb.Fatalf("output message %s is not a stage6.complete event: %v\n%s", m.ID, err, m.Data)
	}
	want := map[string]string{
		"event_type":     "stage6.complete",
		"schema_version": "1",
		"partition_date": e.PartitionDate.String(),
		"run_id":         e.RunID,
	}
	if diff := cmp.Diff(want, m.Attributes); diff != "" {
		tb.Errorf("attributes of stage6.complete %s (-want +got):\n%s", e.EventID, diff)
	}
	return e
}

// checkTurns checks that the exported rows are the turns e announced,
// each exactly once.
func checkTurns(tb testing.TB, rows []map[string]any, e events.Stage6) {
	tb.Helper()
	if int64(len(rows)) != e.TurnsCreated {
		tb.Errorf("partition %s holds %d turns, stage6.complete says %d were created", e.PartitionDate, len(rows), e.TurnsCreated)
	}
	ids := map[string]int{}
	parents := map[string]bool{}
	for i, r := range rows {
		id, _ := r["turn_id"].(string)
		ids[id]++
		parents[fmt.Sprint(r["parent_id"])] = true
		if r["run_id"] != e.RunID || r["ingestion_date"] != e.PartitionDate.String() {
			tb.Errorf("row %d: run_id %v, ingestion_date %v; want %s, %s", i, r["run_id"], r["ingestion_date"], e.RunID, e.PartitionDate)
		}
	}
	for id, n := range ids {
		if n > 1 {
			tb.Errorf("turn %s is stored %d times", id, n)
		}
	}
	if int64(len(parents)) != e.SessionsProcessed {
		tb.Errorf("turns have %d parents, stage6.complete says %d sessions were processed", len(parents), e.SessionsProcessed)
	}
}

// syncBuffer collects serve's log lines while it runs.
type syncBuffer = testutil.SyncBuffer

// records decodes the JSON log lines in logs whose msg starts with prefix;
// other lines are ignored.
func records(logs, prefix string) []map[string]any {
	var out []map[string]any
	for line := range strings.Lines(logs) {
		var r map[string]any
		if json.Unmarshal([]byte(line), &r) != nil {
			continue
		}
		if msg, _ := r["msg"].(string); strings.HasPrefix(msg, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// outcomes are the worker's one-line-per-message outcome records.
func outcomes(logs string) []map[string]any { return records(logs, "stage5.complete event ") }

func countOutcome(logs, outcome string) int {
	n := 0
	for _, r := range outcomes(logs) {
		if r["outcome"] == outcome {
			n++
		}
	}
	return n
}

// serving is `turnstile serve` running in-process.
type serving struct {
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan struct{}
	err    error // what run returned, once done is closed
	once   sync.Once
}

// startServe runs `turnstile serve` in-process with the current
// environment until stop is called or the test ends, and waits until the
// worker receives.
func startServe(tb testing.TB) *serving {
	tb.Helper()
	tb.Setenv("TURNSTILE_LOG_LEVEL", "info")
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{logs: &syncBuffer{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.err = run(ctx, []string{"serve"}, strings.NewReader(""), io.Discard, s.logs)
	}()
	tb.Cleanup(func() {
		if err := s.stop(tb); err != nil {
			tb.Errorf("serve: %v", err)
		}
		if tb.Failed() {
			tb.Logf("serve log:\n%s", s.logs)
		}
	})
	testutil.WaitFor(tb, 30*time.Second, "serve to receive", func() bool {
		select {
		case <-s.done:
			tb.Fatalf("serve returned before receiving: %v\n%s", s.err, s.logs)
		default:
		}
		return len(records(s.logs.String(), "worker receiving")) > 0
	})
	return s
}

// stop cancels serve's context, as SIGTERM does, and returns what run
// returned. It fails tb when serve does not return within the shutdown
// timeout plus a margin.
func (s *serving) stop(tb testing.TB) error {
	tb.Helper()
	s.once.Do(s.cancel)
	select {
	case <-s.done:
		return s.err
	case <-time.After(5*time.Second + 15*time.Second):
		tb.Fatalf("serve did not return within 20s of its context being cancelled")
		return nil
	}
}

// TestServeSetupTwice: the first setup creates the topics, the
// subscriptions (with the configured dead-letter policy) and the tables;
// the second finds everything in place.
func TestServeSetupTwice(t *testing.T) {
	s := newStack(t)
	t.Setenv("TURNSTILE_MAX_DELIVERY_ATTEMPTS", "7")
	first, err := runCLI(t, s.db, "setup")
	if err != nil {
		t.Fatalf("first setup: %v", err)
	}
	var created []string
	for line := range strings.Lines(first) {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "created" {
			created = append(created, f[1]+" "+f[2])
		}
	}
	slices.Sort(created)
	n := s.names
	want := []string{
		"subscription " + n.SubscriptionPath(n.DeadLetterSubscription),
		"subscription " + n.SubscriptionPath(n.Subscription),
		"table conversations",
		"table messages",
		"table turns",
		"topic " + n.TopicPath(n.DeadLetterTopic),
		"topic " + n.TopicPath(n.InputTopic),
		"topic " + n.TopicPath(n.OutputTopic),
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, created); diff != "" {
		t.Errorf("first setup created (-want +got):\n%s\noutput:\n%s", diff, first)
	}

	// What setup reported is what exists.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := s.client.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: n.SubscriptionPath(n.Subscription)})
	if err != nil {
		t.Fatalf("worker subscription after setup: %v", err)
	}
	gotPolicy := fmt.Sprintf("topic %s, dead letters to %s after %d attempts",
		sub.Topic, sub.GetDeadLetterPolicy().GetDeadLetterTopic(), sub.GetDeadLetterPolicy().GetMaxDeliveryAttempts())
	wantPolicy := fmt.Sprintf("topic %s, dead letters to %s after 7 attempts", n.TopicPath(n.InputTopic), n.TopicPath(n.DeadLetterTopic))
	if gotPolicy != wantPolicy {
		t.Errorf("worker subscription: %s; want %s", gotPolicy, wantPolicy)
	}
	if diff := cmp.Diff([]string{"conversations", "messages", "turns"}, duckdbTables(t, s.db)); diff != "" {
		t.Errorf("tables in %s after setup (-want +got):\n%s", s.db, diff)
	}

	second, err := runCLI(t, s.db, "setup")
	if err != nil {
		t.Fatalf("second setup: %v", err)
	}
	if !strings.Contains(second, "nothing to do") || strings.Contains(second, "created") || strings.Contains(second, "updated") {
		t.Errorf("second setup changed something or did not say so:\n%s", second)
	}
}

// duckdbTables lists the tables of the database file at path.
func duckdbTables(tb testing.TB, path string) []string {
	tb.Helper()
	db, err := sql.Open("duckdb", path)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY table_name")
	if err != nil {
		tb.Fatalf("list tables of %s: %v", path, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			tb.Fatal(err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return names
}

// TestServeProcessesEvent: a stage5.complete event published with
// `turnstile publish` is processed by `turnstile serve`: its turns are in
// the warehouse and a stage6.complete announcing them arrives downstream.
func TestServeProcessesEvent(t *testing.T) {
	s := newStack(t)
	s.setUp(t)
	out := s.watch(t)
	const day = "2026-01-22"
	gen := decodeGenerated(t, []byte(mustRun(t, s.db, "generate", "--partition", day, "--conversations", "300", "--seed", "11")))
	srv := startServe(t)

	var pub struct {
		MessageID string `json:"message_id"`
		RunID     string `json:"run_id"`
	}
	published := mustRun(t, s.db, "publish", "--partition", day, "--run-id", "run-e2e-1",
		"--conversation-count", strconv.FormatInt(gen.Conversations, 10))
	if err := json.Unmarshal([]byte(published), &pub); err != nil || pub.MessageID == "" || pub.RunID != "run-e2e-1" {
		t.Fatalf("publish printed %q (error %v), want its message id and run id", published, err)
	}

	e := stage6(t, s.receive(t, out, 1, 60*time.Second)[0])
	want := events.Stage6{
		SchemaVersion: 1, EventType: "stage6.complete",
		EventID:         identity.MustID("EVT6", "run-e2e-1", day),
		RunID:           "run-e2e-1",
		PartitionDate:   civil.Date{Year: 2026, Month: 1, Day: 22},
		TurnsTable:      "turns",
		MessagesRead:    gen.Messages,
		SourceMessageID: pub.MessageID,
	}
	got := e
	got.TurnsCreated, got.SessionsProcessed, got.StartedAt, got.CompletedAt = 0, 0, time.Time{}, time.Time{}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stage6.complete (-want +got):\n%s", diff)
	}
	if e.TurnsCreated == 0 || e.SessionsProcessed == 0 || e.SessionsProcessed > gen.Conversations ||
		e.CompletedAt.Before(e.StartedAt) || time.Since(e.CompletedAt) > time.Minute {
		t.Errorf("implausible stage6.complete %+v", e)
	}

	// The warehouse is readable while serve runs: one process, one
	// database instance.
	checkTurns(t, exportRows(t, s.db, day), e)

	if err := srv.stop(t); err != nil {
		t.Fatalf("serve returned %v after its context was cancelled, want nil", err)
	}
	if got := countOutcome(srv.logs.String(), "acked"); got != 1 {
		t.Errorf("serve logged %d acked events, want 1", got)
	}
}

// TestServeDuplicateDeliveries: the same event delivered three times, the
// deliveries overlapping, leaves one copy of each turn and produces three
// stage6.complete events with the same event_id.
func TestServeDuplicateDeliveries(t *testing.T) {
	s := newStack(t)
	s.setUp(t)
	out := s.watch(t)
	const day = "2026-01-23"
	gen := decodeGenerated(t, []byte(mustRun(t, s.db, "generate", "--partition", day, "--conversations", "400", "--seed", "12")))
	srv := startServe(t)

	ev := events.Stage5{RunID: "run-e2e-dup", PartitionDate: civil.Date{Year: 2026, Month: 1, Day: 23}, ConversationCount: &gen.Conversations}
	data, attrs, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p := s.client.Publisher(s.names.InputTopic)
			defer p.Stop()
			ids[i], errs[i] = p.Publish(ctx, &pubsub.Message{Data: data, Attributes: attrs}).Get(ctx)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("publish: %v", err)
	}

	msgs := s.receive(t, out, 3, 90*time.Second)
	var sources []string
	first := stage6(t, msgs[0])
	for _, m := range msgs {
		e := stage6(t, m)
		sources = append(sources, e.SourceMessageID)
		if e.EventID != first.EventID || e.TurnsCreated != first.TurnsCreated || e.SessionsProcessed != first.SessionsProcessed {
			t.Errorf("stage6.complete events differ: %+v and %+v", first, e)
		}
	}
	if want := identity.MustID("EVT6", ev.RunID, day); first.EventID != want {
		t.Errorf("event_id %q, want %q", first.EventID, want)
	}
	slices.Sort(ids)
	slices.Sort(sources)
	if diff := cmp.Diff(ids, sources); diff != "" {
		t.Errorf("source_message_id of the stage6.complete events (-published +got):\n%s", diff)
	}
	checkTurns(t, exportRows(t, s.db, day), first)

	if err := srv.stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if got := countOutcome(srv.logs.String(), "acked"); got != 3 {
		t.Errorf("serve logged %d acked events, want 3", got)
	}
}

// TestServeMalformedEventIsDeadLettered: an event that cannot be decoded
// goes to the dead-letter topic at once, with its data, its attributes and
// the reason; the worker goes on to process the next event.
func TestServeMalformedEventIsDeadLettered(t *testing.T) {
	s := newStack(t)
	mustRun(t, s.db, "setup")
	out := s.watch(t)
	const day = "2026-01-24"
	mustRun(t, s.db, "generate", "--partition", day, "--conversations", "50", "--seed", "13")
	srv := startServe(t)

	badData := []byte(`{"schema_version": 1, "event_type": "stage5.complete", "run_id": "run-bad", "partition_date": "2026-02-30"}`)
	badAttrs := map[string]string{"event_type": "stage5.complete", "partition_date": "2026-02-30", "origin": "e2e"}
	before := time.Now().UTC()
	badID := s.publishRaw(t, badData, badAttrs)
	good, goodAttrs, err := events.Stage5{RunID: "run-good", PartitionDate: civil.Date{Year: 2026, Month: 1, Day: 24}}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	s.publishRaw(t, good, goodAttrs)

	dead := s.receive(t, s.names.DeadLetterSubscription, 1, 60*time.Second)[0]
	if !bytes.Equal(dead.Data, badData) {
		t.Errorf("dead letter data %q, want the original %q", dead.Data, badData)
	}
	failedAt, err := time.Parse(time.RFC3339Nano, dead.Attributes["turnstile_failed_at"])
	if err != nil || failedAt.Before(before.Add(-time.Second)) || failedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("turnstile_failed_at %q (%v), want an RFC 3339 time after the publish at %s",
			dead.Attributes["turnstile_failed_at"], err, before.Format(time.RFC3339Nano))
	}
	if msg := dead.Attributes["turnstile_error"]; !strings.Contains(msg, "partition_date") {
		t.Errorf("turnstile_error %q does not name the bad field partition_date", msg)
	}
	gotAttrs := map[string]string{}
	for k, v := range dead.Attributes {
		if k != "turnstile_failed_at" && k != "turnstile_error" {
			gotAttrs[k] = v
		}
	}
	wantAttrs := map[string]string{
		"event_type":                  "stage5.complete",
		"partition_date":              "2026-02-30",
		"origin":                      "e2e",
		"turnstile_error_class":       "permanent",
		"turnstile_step":              "decode",
		"turnstile_source_message_id": badID,
		"turnstile_delivery_attempt":  "1",
	}
	if diff := cmp.Diff(wantAttrs, gotAttrs); diff != "" {
		t.Errorf("dead letter attributes (-want +got):\n%s", diff)
	}

	e := stage6(t, s.receive(t, out, 1, 60*time.Second)[0])
	if e.RunID != "run-good" || e.PartitionDate.String() != day {
		t.Errorf("stage6.complete for run %s partition %s, want run-good %s", e.RunID, e.PartitionDate, day)
	}
	checkTurns(t, exportRows(t, s.db, day), e)
	if err := srv.stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// TestServePartitionNeverAppears: an event for a partition that holds
// nothing is retried by the subscription's policy and dead-lettered at the
// last attempt, saying the partition was not ready.
func TestServePartitionNeverAppears(t *testing.T) {
	s := newStack(t)
	s.setUp(t)
	srv := startServe(t)
	const day = "2026-01-25"
	data, attrs, err := events.Stage5{RunID: "run-missing", PartitionDate: civil.Date{Year: 2026, Month: 1, Day: 25}}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	id := s.publishRaw(t, data, attrs)

	dead := s.receive(t, s.names.DeadLetterSubscription, 1, 60*time.Second)[0]
	if !bytes.Equal(dead.Data, data) {
		t.Errorf("dead letter data %q, want the original %q", dead.Data, data)
	}
	want := map[string]string{
		"turnstile_error_class":       "retryable",
		"turnstile_step":              "check_input",
		"turnstile_delivery_attempt":  "5",
		"turnstile_source_message_id": id,
		"partition_date":              day,
		"run_id":                      "run-missing",
	}
	got := map[string]string{}
	for k := range want {
		got[k] = dead.Attributes[k]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dead letter attributes (-want +got):\n%s", diff)
	}
	if msg := dead.Attributes["turnstile_error"]; !strings.Contains(msg, "not ready") || !strings.Contains(msg, day) {
		t.Errorf("turnstile_error %q does not say partition %s was not ready", msg, day)
	}
	if err := srv.stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
	var seq []string
	for _, r := range outcomes(srv.logs.String()) {
		seq = append(seq, fmt.Sprint(r["outcome"]))
	}
	if diff := cmp.Diff([]string{"nacked", "nacked", "nacked", "nacked", "dead_lettered"}, seq); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if rows := exportRows(t, s.db, day); len(rows) != 0 {
		t.Errorf("partition %s holds %d turns after its event was dead-lettered", day, len(rows))
	}
}

// sigtermConversations is the size of the partition that SIGTERM
// interrupts: about 6 seconds of processing on 2 cores, several times the
// shutdown timeout.
const sigtermConversations = 20000

// TestServeSIGTERMDuringPartition runs the built binary: SIGTERM while a
// large partition is processed stops serve within its shutdown timeout
// with exit status 0 and the event nacked; serve started again processes
// the partition once.
func TestServeSIGTERMDuringPartition(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("watches the worker's CPU time in /proc, which only Linux has")
	}
	s := newStack(t)
	const shutdownTimeout = time.Second
	t.Setenv("TURNSTILE_SHUTDOWN_TIMEOUT", shutdownTimeout.String())
	bin := buildBinary(t)
	s.setUp(t)
	out := s.watch(t)
	const day = "2026-01-26"

	start := time.Now()
	gen := decodeGenerated(t, runBinary(t, bin, "generate", "--partition", day, "--conversations", strconv.Itoa(sigtermConversations), "--seed", "14"))
	t.Logf("generated %d conversations, %d messages in %s", gen.Conversations, gen.Messages, time.Since(start).Round(time.Millisecond))

	first := startBinary(t, bin, "serve")
	baseline := first.cpuTicks(t)
	ev := events.Stage5{RunID: "run-e2e-term", PartitionDate: civil.Date{Year: 2026, Month: 1, Day: 26}, ConversationCount: &gen.Conversations}
	data, attrs, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	msgID := s.publishRaw(t, data, attrs)
	// The worker is busy once it has used a third of a second of CPU
	// since the event was published; idle, it uses next to none.
	testutil.WaitFor(t, 30*time.Second, "serve to start on the partition", func() bool { return first.cpuTicks(t) >= baseline+33 })

	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	termAt := time.Now()
	code := first.wait(t, shutdownTimeout+15*time.Second)
	stopped := time.Since(termAt)
	t.Logf("serve exited with status %d %s after SIGTERM", code, stopped.Round(time.Millisecond))
	if code != 0 {
		t.Fatalf("serve exited with status %d after SIGTERM, want 0", code)
	}
	firstOutcomes := outcomes(first.logs.String())
	if len(firstOutcomes) != 1 || firstOutcomes[0]["outcome"] != "nacked" || firstOutcomes[0]["message_id"] != msgID {
		t.Fatalf("serve logged outcomes %v, want the event nacked once (a partition that finishes within the shutdown timeout makes this test moot: raise sigtermConversations)", firstOutcomes)
	}
	t.Logf("the interrupted partition: %v", firstOutcomes[0]["error"])
	if firstOutcomes[0]["class"] != "retryable" {
		t.Errorf("the interrupted partition failed with class %v, want retryable", firstOutcomes[0]["class"])
	}
	// The partition in progress got its shutdown timeout before it was
	// cancelled.
	if stopped < shutdownTimeout {
		t.Errorf("serve stopped %s after SIGTERM, before the shutdown timeout %s its partition was owed", stopped, shutdownTimeout)
	}

	restart := time.Now()
	second := startBinary(t, bin, "serve")
	e := stage6(t, s.receive(t, out, 1, 120*time.Second)[0])
	t.Logf("restarted serve processed the partition (%d turns) in %s", e.TurnsCreated, time.Since(restart).Round(time.Millisecond))
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := second.wait(t, shutdownTimeout+15*time.Second); code != 0 {
		t.Errorf("restarted serve exited with status %d after SIGTERM, want 0", code)
	}
	if want := identity.MustID("EVT6", ev.RunID, day); e.EventID != want || e.SourceMessageID != msgID || e.MessagesRead != gen.Messages {
		t.Errorf("stage6.complete %+v, want event_id %s from message %s with %d messages read", e, want, msgID, gen.Messages)
	}
	if got := countOutcome(second.logs.String(), "acked"); got != 1 {
		t.Errorf("restarted serve acked %d events, want 1", got)
	}

	// Exactly one copy of each turn.
	exported := filepath.Join(t.TempDir(), "turns.jsonl")
	runBinary(t, bin, "export", "--partition", day, "--output", exported)
	f, err := os.Open(exported)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	var rows int64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var r struct {
			TurnID string `json:"turn_id"`
			RunID  string `json:"run_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("export line %d: %v", rows+1, err)
		}
		rows++
		if seen[r.TurnID] {
			t.Fatalf("turn %s is stored twice", r.TurnID)
		}
		seen[r.TurnID] = true
		if r.RunID != ev.RunID {
			t.Fatalf("turn %s has run_id %q, want %q", r.TurnID, r.RunID, ev.RunID)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if rows != e.TurnsCreated {
		t.Errorf("partition holds %d turns, stage6.complete says %d", rows, e.TurnsCreated)
	}
}

// buildBinary builds the turnstile command into a temporary directory.
func buildBinary(tb testing.TB) string {
	tb.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		tb.Skipf("the go command is not on PATH, so the binary cannot be built: %v", err)
	}
	bin := filepath.Join(tb.TempDir(), "turnstile")
	start := time.Now()
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	tb.Logf("built %s in %s", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// runBinary runs the built binary with the test's environment and returns
// its standard output.
func runBinary(tb testing.TB, bin string, args ...string) []byte {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("turnstile %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// process is the built binary running in the background.
type process struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{}
	state  *os.ProcessState
}

// startBinary starts the built binary and waits until its worker receives;
// the process is killed if it still runs when the test ends.
func startBinary(tb testing.TB, bin string, args ...string) *process {
	tb.Helper()
	p := &process{cmd: exec.Command(bin, args...), logs: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start turnstile %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.state = p.cmd.ProcessState
		close(p.exited)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if tb.Failed() {
			tb.Logf("turnstile %s log:\n%s", strings.Join(args, " "), p.logs)
		}
	})
	testutil.WaitFor(tb, 30*time.Second, "serve to receive", func() bool {
		select {
		case <-p.exited:
			tb.Fatalf("turnstile %s exited before receiving: %s\n%s", strings.Join(args, " "), p.cmd.ProcessState, p.logs)
		default:
		}
		return len(records(p.logs.String(), "worker receiving")) > 0
	})
	return p
}

// wait waits for the process to exit and returns its exit status; it
// fails tb when that takes longer than timeout.
func (p *process) wait(tb testing.TB, timeout time.Duration) int {
	tb.Helper()
	select {
	case <-p.exited:
		return p.state.ExitCode()
	case <-time.After(timeout):
		tb.Fatalf("turnstile did not exit within %s", timeout)
		return -1
	}
}

// cpuTicks is the CPU time (user and system, in clock ticks of 10ms) the
// process has used so far.
func (p *process) cpuTicks(tb testing.TB) int64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		tb.Fatalf("read the CPU time of turnstile: %v", err)
	}
	// The fields after the parenthesised command name start with the
	// state (field 3); utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		tb.Fatalf("unexpected /proc stat line %q", b)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			tb.Fatalf("unexpected /proc stat line %q: %v", b, err)
		}
		ticks += n
	}
	return ticks
}
