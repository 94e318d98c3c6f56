package dlq

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/turnstile-dev/turnstile/internal/events"
	"github.com/turnstile-dev/turnstile/internal/pubsub"
	"github.com/turnstile-dev/turnstile/worker"
)

// The attributes Replay adds to a republished event. They start with
// pubsub.AttrPrefix like the dead-letter attributes, but survive the next
// dead-lettering: the Worker copies every attribute of the failed message
// into the dead letter, and Replay strips the turnstile_* attributes only
// after it has read the count.
const (
	AttrReplayCount = "turnstile_replay_count" // how many times the event was replayed
	AttrReplayedAt  = "turnstile_replayed_at"  // RFC 3339, UTC, of the last replay
)

// Attributes that Pub/Sub adds when its dead-letter policy forwards a
// message. Replay removes every attribute with this prefix.
const (
	PubSubDeadLetterPrefix  = "CloudPubSubDeadLetter"
	AttrPubSubDeliveryCount = "CloudPubSubDeadLetterSourceDeliveryCount"
)

// ClassUnknown is the error class of a dead letter that carries no
// turnstile_error_class attribute: one that Pub/Sub's dead-letter policy
// forwarded without the Worker recording why.
const ClassUnknown = "unknown"

// Entry describes one dead-lettered event: a row of `turnstile dlq list`.
type Entry struct {
	MessageID       string `json:"message_id"`                  // the dead letter's Pub/Sub message id
	SourceMessageID string `json:"source_message_id,omitempty"` // the id of the message that failed
	Partition       string `json:"partition,omitempty"`         // partition_date, from the attributes or the data
	RunID           string `json:"run_id,omitempty"`
	ErrorClass      string `json:"error_class"` // "permanent", "retryable" or ClassUnknown
	Error           string `json:"error,omitempty"`
	Step            string `json:"step,omitempty"` // the worker.Step that failed
	// DeliveryCount is how many times the event was delivered before it was
	// dead-lettered: Pub/Sub's CloudPubSubDeadLetterSourceDeliveryCount, or
	// the Worker's turnstile_delivery_attempt; 0 when unknown.
	DeliveryCount int       `json:"delivery_count"`
	PublishTime   time.Time `json:"publish_time"`         // when it was dead-lettered
	FailedAt      time.Time `json:"failed_at,omitzero"`   // turnstile_failed_at
	ReplayCount   int       `json:"replay_count"`         // turnstile_replay_count, 0 when absent
	ReplayedAt    time.Time `json:"replayed_at,omitzero"` // turnstile_replayed_at
}

// newEntry describes a pulled dead letter. Attributes it cannot parse are
// left zero: a dead letter is listed whatever it holds.
func newEntry(m *pubsubpb.PubsubMessage) Entry {
	a := m.GetAttributes()
	e := Entry{
		MessageID:       m.GetMessageId(),
		SourceMessageID: a[pubsub.AttrSourceMessageID],
		Partition:       a[events.AttrPartitionDate],
		RunID:           a[events.AttrRunID],
		ErrorClass:      a[pubsub.AttrErrorClass],
		Error:           a[pubsub.AttrError],
		Step:            a[pubsub.AttrStep],
		PublishTime:     m.GetPublishTime().AsTime().UTC(),
		FailedAt:        parseTime(a[pubsub.AttrFailedAt]),
		ReplayedAt:      parseTime(a[AttrReplayedAt]),
	}
	if e.Partition == "" || e.RunID == "" {
		// A malformed event may still name them in its data.
		var d struct {
			PartitionDate any `json:"partition_date"`
			RunID         any `json:"run_id"`
		}
		if json.Unmarshal(m.GetData(), &d) == nil {
			if s, ok := d.PartitionDate.(string); ok && e.Partition == "" {
				e.Partition = s
			}
			if s, ok := d.RunID.(string); ok && e.RunID == "" {
				e.RunID = s
			}
		}
	}
	if e.ErrorClass == "" {
		e.ErrorClass = ClassUnknown
	}
	if n, err := strconv.Atoi(a[AttrPubSubDeliveryCount]); err == nil {
		e.DeliveryCount = n
	} else if n, err := strconv.Atoi(a[pubsub.AttrDeliveryAttempt]); err == nil {
		e.DeliveryCount = n
	}
	if e.Error == "" && a[AttrPubSubDeliveryCount] != "" {
		e.Error = fmt.Sprintf("dead-lettered by Pub/Sub after %d delivery attempts", e.DeliveryCount)
	}
	if n, err := replayCount(a); err == nil {
		e.ReplayCount = n
	}
	return e
}

// replayCount is the event's turnstile_replay_count: 0 when absent, an
// error when it is not a non-negative integer.
func replayCount(attrs map[string]string) (int, error) {
	s, ok := attrs[AttrReplayCount]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("attribute %s is %q, not a count", AttrReplayCount, s)
	}
	return n, nil
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// replayAttributes are the attributes of a replayed event: attrs without
// Pub/Sub's dead-letter attributes and without turnstile's own, plus the
// replay count and time.
func replayAttributes(attrs map[string]string, count int, now time.Time) map[string]string {
	out := make(map[string]string, len(attrs)+2)
	for k, v := range attrs {
		if strings.HasPrefix(k, PubSubDeadLetterPrefix) || strings.HasPrefix(k, pubsub.AttrPrefix) {
			continue
		}
		out[k] = v
	}
	out[AttrReplayCount] = strconv.Itoa(count)
	out[AttrReplayedAt] = now.UTC().Format(time.RFC3339Nano)
	return out
}

// Filter selects dead-lettered events. The zero Filter selects all.
type Filter struct {
	// Partition, when set, selects the events for that partition_date.
	Partition *civil.Date
	// ErrorClass, when set, selects the events of that class: "permanent",
	// "retryable", or ClassUnknown for those that Pub/Sub dead-lettered
	// without a reason.
	ErrorClass string
	// OlderThan, when positive, selects the events dead-lettered (published
	// to the dead-letter topic) at least that long ago.
	OlderThan time.Duration
	// Limit, when positive, selects at most that many events: the first
	// matching ones pulled, in no particular order, since Pub/Sub does not
	// deliver in publish order.
	Limit int
}

// Validate reports the first invalid field of f.
func (f Filter) Validate() error {
	switch f.ErrorClass {
	case "", string(worker.Permanent), string(worker.Retryable), ClassUnknown:
	default:
		return fmt.Errorf("error class %q: must be %s, %s or %s", f.ErrorClass, worker.Permanent, worker.Retryable, ClassUnknown)
	}
	if f.OlderThan < 0 {
		return fmt.Errorf("older than %s: must not be negative", f.OlderThan)
	}
	if f.Limit < 0 {
		return fmt.Errorf("limit %d: must not be negative", f.Limit)
	}
	if f.Partition != nil && !f.Partition.IsValid() {
		return fmt.Errorf("partition %s is not a valid date", f.Partition)
	}
	return nil
}

// Match reports whether f selects e at time now (Limit aside).
func (f Filter) Match(e Entry, now time.Time) bool {
	if f.Partition != nil && e.Partition != f.Partition.String() {
		return false
	}
	if f.ErrorClass != "" && e.ErrorClass != f.ErrorClass {
		return false
	}
	if f.OlderThan > 0 && now.Sub(e.PublishTime) < f.OlderThan {
		return false
	}
	return true
}
