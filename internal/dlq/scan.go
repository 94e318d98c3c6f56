package dlq

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	vkit "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tpubsub "github.com/turnstile-dev/turnstile/internal/pubsub"
)

// Options select the dead-lettered events to act on and bound how the
// dead-letter subscription is read. Zero fields take the defaults listed.
type Options struct {
	Filter
	// QuietPeriod ends the scan once no new message has arrived for this
	// long: the subscription is then taken to have been read to the end.
	// A message delivered again (its id already seen) is not new. It is
	// also how long one pull may wait for messages (at least
	// 500ms), and the pull in progress completes, so a scan ends within
	// two quiet periods of the last new message. Default 3s.
	QuietPeriod time.Duration
	// Timeout bounds the scan (not the replay or drop that follows it),
	// give or take the pull in progress. Default 60s.
	Timeout time.Duration
	// MaxMessages bounds how many messages a scan reads and holds, matching
	// or not. Default 10000.
	MaxMessages int
	// Now is the clock of Filter.OlderThan and turnstile_replayed_at.
	// Default time.Now.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultQuietPeriod = 3 * time.Second
	DefaultTimeout     = 60 * time.Second
	DefaultMaxMessages = 10000
)

// StopReason says why a scan of the dead-letter subscription ended.
type StopReason string

// The reasons a scan ends.
const (
	// StopQuiet: no new message arrived for Options.QuietPeriod; as far as
	// Pub/Sub can tell, every message was seen.
	StopQuiet StopReason = "quiet"
	// StopLimit: Filter.Limit matching events were found.
	StopLimit StopReason = "limit"
	// StopTimeout: Options.Timeout passed; more messages may remain unseen.
	StopTimeout StopReason = "timeout"
	// StopMaxMessages: Options.MaxMessages were read; more may remain unseen.
	StopMaxMessages StopReason = "max_messages"
)

const (
	// defaultLease is how long pulled messages are held; the lease is
	// extended every third of it until they are acked or released.
	defaultLease = 60 * time.Second
	// settleTimeout bounds an ack or release, which run even after the
	// caller's context was cancelled so that nothing stays held.
	settleTimeout = 30 * time.Second
	// maxAckIDs is how many ack ids go into one request.
	maxAckIDs = 500
	// maxPull is how many messages one Pull asks for.
	maxPull = 1000
	// emptyPause spaces pulls that found nothing new.
	emptyPause = 100 * time.Millisecond
	// minPullWait is the shortest a pull may wait for messages.
	minPullWait = 500 * time.Millisecond
)

func (o Options) withDefaults() Options {
	if o.QuietPeriod <= 0 {
		o.QuietPeriod = DefaultQuietPeriod
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxMessages <= 0 {
		o.MaxMessages = DefaultMaxMessages
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// held is a pulled dead letter that is not settled yet.
type held struct {
	msg   *pubsubpb.PubsubMessage
	entry Entry
}

// scan is the result of reading the dead-letter subscription: every message
// read is held by lease until it is acked or released.
type scan struct {
	sub      string // full subscription name
	lease    *lease
	scanned  int     // distinct messages read
	selected []*held // the matching ones, at most Limit, oldest first
	stop     StopReason
}

// read scans the dead-letter subscription of n as o says, holding what it
// pulls for leaseFor at a time (see defaultLease). On success the
// caller settles the selected messages and then calls s.lease.release; on
// an error read has released everything itself.
func read(ctx context.Context, client *pubsub.Client, n tpubsub.Names, o Options, leaseFor time.Duration) (*scan, error) {
	if client == nil {
		return nil, errors.New("no Pub/Sub client")
	}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	if err := o.Filter.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	s := &scan{sub: n.SubscriptionPath(n.DeadLetterSubscription)}
	s.lease = newLease(client.SubscriptionAdminClient, s.sub, leaseFor)
	if err := s.pullAll(ctx, o); err != nil {
		return nil, errors.Join(err, s.lease.release(ctx))
	}
	slices.SortFunc(s.selected, func(a, b *held) int {
		return cmp.Or(a.entry.PublishTime.Compare(b.entry.PublishTime), cmp.Compare(a.entry.MessageID, b.entry.MessageID))
	})
	return s, nil
}

// pullAll pulls until a stop condition of o holds.
func (s *scan) pullAll(ctx context.Context, o Options) error {
	now := o.Now()
	start := time.Now()
	deadline := start.Add(o.Timeout)
	lastNew := start
	for {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		t := time.Now()
		switch {
		case o.Limit > 0 && len(s.selected) >= o.Limit:
			s.stop = StopLimit
		case s.scanned >= o.MaxMessages:
			s.stop = StopMaxMessages
		case !t.Before(deadline):
			s.stop = StopTimeout
		case t.Sub(lastNew) >= o.QuietPeriod:
			s.stop = StopQuiet
		}
		if s.stop != "" {
			return nil
		}
		msgs, err := s.pull(ctx, max(o.QuietPeriod, minPullWait), min(maxPull, o.MaxMessages-s.scanned))
		if err != nil {
			return err
		}
		fresh, err := s.lease.hold(ctx, msgs)
		if err != nil {
			return err
		}
		if len(fresh) == 0 {
			if err := sleep(ctx, emptyPause); err != nil {
				return err
			}
			continue
		}
		lastNew = time.Now()
		for _, m := range fresh {
			s.scanned++
			e := newEntry(m)
			if (o.Limit == 0 || len(s.selected) < o.Limit) && o.Match(e, now) {
				s.selected = append(s.selected, &held{msg: m, entry: e})
			}
		}
	}
}

// pull makes one Pull call that waits at most wait. A call that times out
// found nothing.
//
// A pull is never cut shorter than the quiet period (or minPullWait), so a
// scan may end up to one pull after its quiet period or timeout: a message
// that Pub/Sub hands to a call just as the caller gives up on it is hidden
// (though still on the subscription) until its ack deadline passes, and a
// short deadline would make that likely.
func (s *scan) pull(ctx context.Context, wait time.Duration, maxMessages int) ([]*pubsubpb.ReceivedMessage, error) {
	callCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	resp, err := s.lease.subs.Pull(callCtx, &pubsubpb.PullRequest{Subscription: s.sub, MaxMessages: int32(maxMessages)})
	if err != nil {
		if ctx.Err() == nil && callCtx.Err() != nil {
			return nil, nil
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		if status.Code(err) == codes.NotFound {
			return nil, fmt.Errorf("the dead-letter subscription does not exist (run `turnstile setup`): %w", err)
		}
		return nil, fmt.Errorf("pull: %w", err)
	}
	return resp.GetReceivedMessages(), nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// lease holds pulled messages: it extends their ack deadlines in the
// background until each is acked or released. It is safe for concurrent
// use.
type lease struct {
	subs     *vkit.SubscriptionAdminClient
	sub      string
	duration time.Duration

	// rpc serialises extensions and acks, so that an extension never
	// names a message acked meanwhile.
	rpc    sync.Mutex
	mu     sync.Mutex
	ackIDs map[string]string // message id -> its latest ack id, until settled
	err    error             // the last failed extension

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

func newLease(subs *vkit.SubscriptionAdminClient, sub string, d time.Duration) *lease {
	l := &lease{subs: subs, sub: sub, duration: d, ackIDs: make(map[string]string), stop: make(chan struct{}), done: make(chan struct{})}
	go l.keep()
	return l
}

// keep extends the ack deadline of every held message each third of the
// lease.
func (l *lease) keep() {
	defer close(l.done)
	t := time.NewTicker(l.duration / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		l.extendAll()
	}
}

func (l *lease) extendAll() {
	l.rpc.Lock()
	defer l.rpc.Unlock()
	l.mu.Lock()
	ids := make([]string, 0, len(l.ackIDs))
	for _, id := range l.ackIDs {
		ids = append(ids, id)
	}
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	err := l.modify(ctx, ids, l.duration)
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
}

// healthy reports the failure of the last lease extension, if it failed:
// then held messages may be delivered again, and acking them is unsafe.
func (l *lease) healthy() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return fmt.Errorf("extend the lease of the pulled messages: %w", l.err)
	}
	return nil
}

// hold takes msgs into the lease, extends their deadlines, and returns
// those whose message id was not held before. A message delivered again
// keeps its place with its new ack id.
func (l *lease) hold(ctx context.Context, msgs []*pubsubpb.ReceivedMessage) ([]*pubsubpb.PubsubMessage, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(msgs))
	var fresh []*pubsubpb.PubsubMessage
	l.mu.Lock()
	for _, rm := range msgs {
		id := rm.GetMessage().GetMessageId()
		if _, ok := l.ackIDs[id]; !ok {
			fresh = append(fresh, rm.GetMessage())
		}
		l.ackIDs[id] = rm.GetAckId()
		ids = append(ids, rm.GetAckId())
	}
	l.mu.Unlock()
	if err := l.modify(ctx, ids, l.duration); err != nil {
		return nil, fmt.Errorf("extend the lease of %d pulled messages: %w", len(ids), err)
	}
	return fresh, nil
}

// ack acknowledges the held messages with the given ids and forgets them.
// The context of the call is not cancelled with ctx: an ack that was sent
// completes.
func (l *lease) ack(ctx context.Context, messageIDs ...string) error {
	l.rpc.Lock()
	defer l.rpc.Unlock()
	l.mu.Lock()
	ids := make([]string, 0, len(messageIDs))
	for _, m := range messageIDs {
		if id, ok := l.ackIDs[m]; ok {
			ids = append(ids, id)
		}
	}
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	for chunk := range slices.Chunk(ids, maxAckIDs) {
		if err := l.subs.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: l.sub, AckIds: chunk}); err != nil {
			return fmt.Errorf("acknowledge: %w", err)
		}
	}
	l.mu.Lock()
	for _, m := range messageIDs {
		delete(l.ackIDs, m)
	}
	l.mu.Unlock()
	return nil
}

// release stops extending the lease and nacks every message still held,
// so that it is available again at once. It is not cancelled with ctx.
// Should the nack fail, the messages come back when their lease expires.
func (l *lease) release(ctx context.Context) error {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
	l.mu.Lock()
	ids := make([]string, 0, len(l.ackIDs))
	for _, id := range l.ackIDs {
		ids = append(ids, id)
	}
	clear(l.ackIDs)
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	if err := l.modify(ctx, ids, 0); err != nil {
		return fmt.Errorf("release %d messages (they return when their %s lease expires): %w", len(ids), l.duration, err)
	}
	return nil
}

// modify sets the ack deadline of ackIDs to d.
func (l *lease) modify(ctx context.Context, ackIDs []string, d time.Duration) error {
	for chunk := range slices.Chunk(ackIDs, maxAckIDs) {
		err := l.subs.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{
			Subscription: l.sub, AckIds: chunk, AckDeadlineSeconds: int32(d / time.Second)})
		if err != nil {
			return err
		}
	}
	return nil
}
