package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/turnstile-dev/turnstile/worker"
)

// Processor is the stage-6 use case as the Worker needs it. It must honour
// ctx: the Worker cancels it ShutdownTimeout after shutdown starts.
type Processor interface {
	Process(ctx context.Context, req worker.Request) (worker.Summary, error)
}

var _ Processor = (*worker.Processor)(nil)

// Defaults of the Worker's optional fields.
const (
	DefaultMaxConcurrent   = 2
	DefaultMaxExtension    = 60 * time.Minute
	DefaultShutdownTimeout = 20 * time.Second
)

// Worker pulls stage5.complete events from Names.Subscription, runs the
// Processor for each, publishes stage6.complete to Names.OutputTopic and
// acks, nacks or dead-letters each message (SPEC §6-7).
//
// One message, one outcome, decided in one place (decide):
//
//   - processed and its stage6.complete published: ack;
//   - the event does not decode, or processing failed with a permanent
//     error: publish it to Names.DeadLetterTopic with the original data and
//     attributes plus turnstile_error, turnstile_error_class,
//     turnstile_step, turnstile_failed_at, turnstile_source_message_id and
//     turnstile_delivery_attempt, wait for the publish, then ack;
//   - a retryable error (warehouse, partition not ready, stage6.complete
//     publish failed, shutdown): nack, so that the subscription's retry
//     policy spaces the next delivery; but at the last delivery attempt
//     (the message's DeliveryAttempt >= MaxDeliveryAttempts), where a nack
//     would make Pub/Sub dead-letter it without a reason, dead-letter it as
//     above instead;
//   - a dead-letter publish that fails: nack.
//
// Two events for the same partition never run at once in one Worker: a
// delivery for a partition in progress waits for it (holding one of the
// MaxConcurrent slots, its lease extended), then runs; processing is
// idempotent, so the second run rewrites the same turns and publishes the
// same event_id. Different partitions run concurrently.
//
// Each outcome is logged as one line with partition, run_id, message_id,
// delivery_attempt, outcome (acked, nacked or dead_lettered), duration_ms,
// and error, class and step when it failed.
//
// Set the fields before calling Run and do not change them afterwards. The
// Worker does not close Client.
type Worker struct {
	Client    *pubsub.Client
	Names     Names
	Processor Processor

	// MaxConcurrent is how many messages are processed at once
	// (ReceiveSettings.MaxOutstandingMessages). Default 2.
	MaxConcurrent int
	// MaxDeliveryAttempts is the delivery attempt at which a retryable
	// failure is dead-lettered by the Worker rather than nacked. Zero takes
	// it from the subscription's dead-letter policy; with no policy, the
	// Worker never dead-letters retryable failures.
	MaxDeliveryAttempts int
	// MaxExtension bounds how long the lease of a message in progress is
	// extended. Default 60 minutes.
	MaxExtension time.Duration
	// ShutdownTimeout is how long in-flight partitions may run once Run's
	// context is cancelled; then their context is cancelled and they are
	// nacked. Default 20s.
	ShutdownTimeout time.Duration
	Logger          *slog.Logger     // default: discard
	Now             func() time.Time // default time.Now; stamps turnstile_failed_at

	ready atomic.Bool
	locks partitionLocks
}

// run holds what one call of Run shares with its message handlers.
type run struct {
	recvCtx     context.Context // cancelled when shutdown starts
	workCtx     context.Context // cancelled ShutdownTimeout later
	output      *pubsub.Publisher
	deadLetter  *pubsub.Publisher
	maxAttempts int
}

// Run receives and processes messages until ctx is cancelled or the
// subscription fails. It checks first that the subscription exists.
//
// When ctx is cancelled, Run stops pulling and marks the Worker not ready;
// partitions in progress get ShutdownTimeout to finish (their context is
// not ctx), then their context is cancelled and what is unfinished is
// nacked. Run returns nil after such a clean shutdown, once every message
// is acked or nacked and the publishers are flushed; otherwise it returns
// the error that stopped it. Run must not be called again while it runs.
func (w *Worker) Run(ctx context.Context) error {
	if w.Client == nil || w.Processor == nil {
		return errors.New("run worker: Client and Processor are required")
	}
	if err := w.Names.Validate(); err != nil {
		return fmt.Errorf("run worker: %w", err)
	}
	subName := w.Names.SubscriptionPath(w.Names.Subscription)
	sub, err := w.Client.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: subName})
	if status.Code(err) == codes.NotFound {
		return fmt.Errorf("run worker: subscription %s does not exist (run `turnstile setup`)", subName)
	}
	if err != nil {
		return fmt.Errorf("run worker: get subscription %s: %w", subName, err)
	}
	subMax := int(sub.GetDeadLetterPolicy().GetMaxDeliveryAttempts())
	maxAttempts := w.MaxDeliveryAttempts
	switch {
	case sub.GetDeadLetterPolicy() == nil:
		w.logger().Warn("subscription has no dead-letter policy: failing events are redelivered until they expire",
			"subscription", subName)
	case maxAttempts == 0:
		maxAttempts = subMax
	case maxAttempts > subMax:
		w.logger().Warn("max delivery attempts exceeds the subscription's: Pub/Sub dead-letters events before the worker records why",
			"subscription", subName, "max_delivery_attempts", maxAttempts, "subscription_max_delivery_attempts", subMax)
	}

	r := &run{
		recvCtx:     ctx,
		output:      w.Client.Publisher(w.Names.TopicPath(w.Names.OutputTopic)),
		deadLetter:  w.Client.Publisher(w.Names.TopicPath(w.Names.DeadLetterTopic)),
		maxAttempts: maxAttempts,
	}
	defer r.output.Stop()
	defer r.deadLetter.Stop()

	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	r.workCtx = workCtx
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		w.ready.Store(false)
		t := time.NewTimer(w.shutdownTimeout())
		defer t.Stop()
		select {
		case <-t.C:
			cancelWork()
		case <-done:
		}
	}()

	s := w.Client.Subscriber(subName)
	s.ReceiveSettings.MaxOutstandingMessages = w.maxConcurrent()
	s.ReceiveSettings.NumGoroutines = 1
	s.ReceiveSettings.MaxExtension = w.MaxExtension
	if s.ReceiveSettings.MaxExtension == 0 {
		s.ReceiveSettings.MaxExtension = DefaultMaxExtension
	}

	w.logger().Info("worker receiving", "subscription", subName, "max_concurrent", w.maxConcurrent(),
		"max_delivery_attempts", maxAttempts, "shutdown_timeout", w.shutdownTimeout().String())
	w.ready.Store(ctx.Err() == nil)
	err = s.Receive(ctx, func(_ context.Context, m *pubsub.Message) {
		w.handle(r, m)
	})
	w.ready.Store(false)
	if err != nil {
		return fmt.Errorf("receive from %s: %w", subName, err)
	}
	if ctx.Err() == nil {
		return fmt.Errorf("receive from %s: stopped without an error before shutdown", subName)
	}
	w.logger().Info("worker stopped", "subscription", subName)
	return nil
}

// Ready reports whether Run is receiving messages: true from the start of
// Receive until shutdown begins. It is safe for concurrent use.
func (w *Worker) Ready() bool { return w.ready.Load() }

// CheckReady is Ready as an error, for a readiness probe.
func (w *Worker) CheckReady(context.Context) error {
	if !w.Ready() {
		return errors.New("worker is not receiving messages")
	}
	return nil
}

func (w *Worker) maxConcurrent() int {
	if w.MaxConcurrent > 0 {
		return w.MaxConcurrent
	}
	return DefaultMaxConcurrent
}

func (w *Worker) shutdownTimeout() time.Duration {
	if w.ShutdownTimeout > 0 {
		return w.ShutdownTimeout
	}
	return DefaultShutdownTimeout
}

func (w *Worker) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Worker) logger() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.New(slog.DiscardHandler)
}
