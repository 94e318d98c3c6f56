package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/pubsub/v2"

	"github.com/turnstile-dev/turnstile/internal/events"
	"github.com/turnstile-dev/turnstile/worker"
)

// The attributes the Worker adds to a message it dead-letters. Replay
// removes every attribute that starts with AttrPrefix.
const (
	AttrPrefix          = "turnstile_"
	AttrError           = "turnstile_error"             // the error message, cut to 1024 bytes
	AttrErrorClass      = "turnstile_error_class"       // "retryable" or "permanent"
	AttrStep            = "turnstile_step"              // the worker.Step that failed
	AttrFailedAt        = "turnstile_failed_at"         // RFC 3339, UTC
	AttrSourceMessageID = "turnstile_source_message_id" // the Pub/Sub id of the failed message
	AttrDeliveryAttempt = "turnstile_delivery_attempt"  // its delivery attempt, when known
)

// maxAttrValue is Pub/Sub's limit on the size of an attribute value.
const maxAttrValue = 1024

// Outcomes, as logged.
const (
	outcomeAcked        = "acked"
	outcomeNacked       = "nacked"
	outcomeDeadLettered = "dead_lettered"
)

// verdict is what should happen to a message.
type verdict int

const (
	verdictAck verdict = iota
	verdictNack
	verdictDeadLetter
)

// decide maps the result of handling one message to its verdict (SPEC §7).
// err is nil when the partition was processed and its stage6.complete
// published; attempt is the message's delivery attempt (0 when unknown) and
// maxAttempts the attempt at which retrying stops (0: never stops).
func decide(err error, attempt, maxAttempts int) verdict {
	switch {
	case err == nil:
		return verdictAck
	case classOf(err) == worker.Permanent:
		return verdictDeadLetter
	case maxAttempts > 0 && attempt >= maxAttempts:
		// A nack now would have Pub/Sub dead-letter the message without
		// saying why; dead-letter it with the reason instead.
		return verdictDeadLetter
	default:
		return verdictNack
	}
}

// classOf is the class of err: a StepError's own, otherwise worker.ClassOf.
func classOf(err error) worker.Class {
	var se *worker.StepError
	if errors.As(err, &se) && se.Class != "" {
		return se.Class
	}
	return worker.ClassOf(err)
}

// result is what handling one message came to before its verdict.
type result struct {
	event   *events.Stage5 // nil when the data did not decode
	step    worker.Step    // the failed step, when err is not a *worker.StepError
	err     error
	summary worker.Summary
	eventID string // the stage6.complete published
}

func (r result) failedStep() worker.Step {
	var se *worker.StepError
	if errors.As(r.err, &se) {
		return se.Step
	}
	return r.step
}

// handle processes one message and acks, nacks or dead-letters it.
func (w *Worker) handle(r *run, m *pubsub.Message) {
	start := time.Now()
	attempt := 0
	if m.DeliveryAttempt != nil {
		attempt = *m.DeliveryAttempt
	}
	res := w.attempt(r, m)
	outcome, dlErr := w.settle(r, m, res, attempt, decide(res.err, attempt, r.maxAttempts))
	w.logOutcome(m, res, attempt, outcome, dlErr, time.Since(start))
}

// attempt decodes m, processes its partition and publishes stage6.complete.
func (w *Worker) attempt(r *run, m *pubsub.Message) result {
	ev, err := events.DecodeStage5(m.Data)
	if err != nil {
		return result{step: worker.StepDecode, err: err}
	}
	res := result{event: &ev}
	if err := r.recvCtx.Err(); err != nil {
		res.err = fmt.Errorf("shutting down before processing partition %s: %w", ev.PartitionDate, context.Cause(r.recvCtx))
		return res
	}
	unlock, err := w.locks.lock(r.recvCtx, ev.PartitionDate)
	if err != nil {
		res.err = fmt.Errorf("shutting down while waiting for partition %s: %w", ev.PartitionDate, err)
		return res
	}
	defer unlock()

	req := worker.Request{Day: ev.PartitionDate, RunID: ev.RunID, ExpectConversations: ev.ConversationCount}
	res.summary, res.err = w.Processor.Process(r.workCtx, req)
	if res.err != nil {
		return res
	}
	publishErr := func(class worker.Class, err error) error {
		return &worker.StepError{Step: worker.StepPublish, Partition: ev.PartitionDate, RunID: ev.RunID, Class: class, Err: err}
	}
	out, err := events.NewStage6(ev, m.ID, res.summary)
	if err != nil {
		res.err = publishErr(worker.Permanent, err)
		return res
	}
	data, attrs, err := out.Encode()
	if err != nil {
		res.err = publishErr(worker.Permanent, err)
		return res
	}
	_, err = r.output.Publish(r.workCtx, &pubsub.Message{Data: data, Attributes: attrs}).Get(r.workCtx)
	if err != nil {
		res.err = publishErr(worker.Retryable, fmt.Errorf("publish %s %s to %s: %w", events.TypeStage6, out.EventID, r.output, err))
		return res
	}
	res.eventID = out.EventID
	return res
}

// settle carries out v for m and returns the outcome. A dead letter that
// cannot be published is nacked; its error is returned.
func (w *Worker) settle(r *run, m *pubsub.Message, res result, attempt int, v verdict) (outcome string, deadLetterErr error) {
	switch v {
	case verdictAck:
		m.Ack()
		return outcomeAcked, nil
	case verdictDeadLetter:
		dl := &pubsub.Message{Data: m.Data, Attributes: w.deadLetterAttributes(m, res, attempt)}
		if _, err := r.deadLetter.Publish(r.workCtx, dl).Get(r.workCtx); err != nil {
			m.Nack()
			return outcomeNacked, fmt.Errorf("publish to dead-letter topic %s: %w", r.deadLetter, err)
		}
		m.Ack()
		return outcomeDeadLettered, nil
	default:
		m.Nack()
		return outcomeNacked, nil
	}
}

// deadLetterAttributes are m's attributes plus the turnstile_* attributes
// describing res.err.
func (w *Worker) deadLetterAttributes(m *pubsub.Message, res result, attempt int) map[string]string {
	attrs := make(map[string]string, len(m.Attributes)+6)
	maps.Copy(attrs, m.Attributes)
	attrs[AttrError] = truncateUTF8(res.err.Error(), maxAttrValue)
	attrs[AttrErrorClass] = string(classOf(res.err))
	attrs[AttrStep] = string(res.failedStep())
	attrs[AttrFailedAt] = w.now().UTC().Format(time.RFC3339Nano)
	attrs[AttrSourceMessageID] = m.ID
	if attempt > 0 {
		attrs[AttrDeliveryAttempt] = strconv.Itoa(attempt)
	} else {
		delete(attrs, AttrDeliveryAttempt)
	}
	return attrs
}

func (w *Worker) logOutcome(m *pubsub.Message, res result, attempt int, outcome string, deadLetterErr error, d time.Duration) {
	attrs := make([]slog.Attr, 0, 12)
	if res.event != nil {
		attrs = append(attrs,
			slog.String("partition", res.event.PartitionDate.String()),
			slog.String("run_id", res.event.RunID))
	} else {
		// The data did not decode: the attributes may still say what it was.
		attrs = append(attrs,
			slog.String("partition", m.Attributes[events.AttrPartitionDate]),
			slog.String("run_id", m.Attributes[events.AttrRunID]))
	}
	attrs = append(attrs,
		slog.String("message_id", m.ID),
		slog.Int("delivery_attempt", attempt),
		slog.String("outcome", outcome),
		slog.Int64("duration_ms", d.Milliseconds()))
	level := slog.LevelInfo
	if res.err != nil {
		attrs = append(attrs,
			slog.String("error", res.err.Error()),
			slog.String("class", string(classOf(res.err))),
			slog.String("step", string(res.failedStep())))
		level = slog.LevelWarn
	} else {
		attrs = append(attrs,
			slog.String("event_id", res.eventID),
			slog.Int64("turns_created", res.summary.TurnsCreated))
	}
	if outcome == outcomeDeadLettered {
		level = slog.LevelError
	}
	if deadLetterErr != nil {
		attrs = append(attrs, slog.String("dead_letter_error", deadLetterErr.Error()))
		level = slog.LevelError
	}
	w.logger().LogAttrs(context.Background(), level, "stage5.complete event "+outcome, attrs...)
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
