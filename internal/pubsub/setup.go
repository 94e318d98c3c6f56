package pubsub

import (
	"context"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// SetupOptions configure the subscriptions that Setup creates. Zero fields
// take the defaults listed.
type SetupOptions struct {
	// MaxDeliveryAttempts is the worker subscription's dead-letter policy:
	// after this many deliveries Pub/Sub forwards a message to the
	// dead-letter topic. 5 to 100; default 5.
	MaxDeliveryAttempts int
	// MinBackoff and MaxBackoff bound the worker subscription's retry
	// policy, the exponential delay before a nacked message is delivered
	// again. 0 to 600s; defaults 10s and 600s.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// AckDeadline is the subscriptions' ack deadline; the Worker extends it
	// while a partition is processed. 10s to 600s; default 60s.
	AckDeadline time.Duration
	// DeadLetterRetention is how long the dead-letter subscription keeps
	// unreplayed messages. 10 minutes to 7 days; default 7 days.
	DeadLetterRetention time.Duration
}

// DefaultMaxDeliveryAttempts is the default of
// SetupOptions.MaxDeliveryAttempts.
const DefaultMaxDeliveryAttempts = 5

func (o SetupOptions) withDefaults() (SetupOptions, error) {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if o.MaxDeliveryAttempts == 0 {
		o.MaxDeliveryAttempts = DefaultMaxDeliveryAttempts
	}
	def(&o.MinBackoff, 10*time.Second)
	def(&o.MaxBackoff, 600*time.Second)
	def(&o.AckDeadline, 60*time.Second)
	def(&o.DeadLetterRetention, 7*24*time.Hour)
	switch {
	case o.MaxDeliveryAttempts < 5 || o.MaxDeliveryAttempts > 100:
		return o, fmt.Errorf("max delivery attempts %d: must be between 5 and 100", o.MaxDeliveryAttempts)
	case o.MinBackoff < 0 || o.MinBackoff > 600*time.Second:
		return o, fmt.Errorf("minimum retry backoff %s: must be between 0 and 600s", o.MinBackoff)
	case o.MaxBackoff < o.MinBackoff || o.MaxBackoff > 600*time.Second:
		return o, fmt.Errorf("maximum retry backoff %s: must be between the minimum %s and 600s", o.MaxBackoff, o.MinBackoff)
	case o.AckDeadline < 10*time.Second || o.AckDeadline > 600*time.Second:
		return o, fmt.Errorf("ack deadline %s: must be between 10s and 600s", o.AckDeadline)
	case o.DeadLetterRetention < 10*time.Minute || o.DeadLetterRetention > 7*24*time.Hour:
		return o, fmt.Errorf("dead-letter retention %s: must be between 10m and 168h", o.DeadLetterRetention)
	}
	return o, nil
}

// Action says what Setup did to one resource.
type Action string

// The actions of a Report.
const (
	Created Action = "created"
	Exists  Action = "exists" // already there and as configured
	Updated Action = "updated"
)

// Resource is one line of a Report.
type Resource struct {
	Kind   string // "topic" or "subscription"
	Name   string // full resource name
	Action Action
	Detail string // for Updated: what changed, "field: old -> new; ..."
}

// Report lists what Setup found and did, in the order it did it.
type Report struct {
	Resources []Resource
}

// Changed reports whether Setup created or updated anything.
func (r Report) Changed() bool {
	for _, res := range r.Resources {
		if res.Action != Exists {
			return true
		}
	}
	return false
}

// String is one line per resource, then "nothing to do" when nothing
// changed.
func (r Report) String() string {
	var b strings.Builder
	for _, res := range r.Resources {
		fmt.Fprintf(&b, "%-12s %-7s %s", res.Kind, res.Action, res.Name)
		if res.Detail != "" {
			fmt.Fprintf(&b, " (%s)", res.Detail)
		}
		b.WriteByte('\n')
	}
	if !r.Changed() {
		b.WriteString("nothing to do\n")
	}
	return b.String()
}

// Setup creates what stage 6 needs, idempotently: the input topic, the
// dead-letter topic, the output topic, the worker subscription on the input
// topic (ack deadline, retry policy, dead-letter policy to the dead-letter
// topic, never expiring) and the dead-letter subscription (long retention,
// no dead-letter policy of its own, never expiring).
//
// Resources that exist are left alone when they match. A subscription whose
// ack deadline, retry, dead-letter, retention or expiration policy differs
// from o is updated in place and reported as Updated with the differences;
// a subscription attached to another topic is an error, since Pub/Sub
// cannot move it. On an error, the Report lists what was done before it.
//
// On Google Cloud, dead-lettering also needs the Pub/Sub service agent
// (service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com) to hold
// roles/pubsub.publisher on the dead-letter topic and
// roles/pubsub.subscriber on the worker subscription; Setup does not grant
// IAM roles.
func Setup(ctx context.Context, client *pubsub.Client, n Names, o SetupOptions) (Report, error) {
	var r Report
	if err := n.Validate(); err != nil {
		return r, fmt.Errorf("setup: %w", err)
	}
	o, err := o.withDefaults()
	if err != nil {
		return r, fmt.Errorf("setup: %w", err)
	}
	for _, id := range []string{n.InputTopic, n.DeadLetterTopic, n.OutputTopic} {
		res, err := ensureTopic(ctx, client, n.TopicPath(id))
		if err != nil {
			return r, fmt.Errorf("setup: %w", err)
		}
		r.Resources = append(r.Resources, res)
	}
	subs := []*pubsubpb.Subscription{
		{
			Name:               n.SubscriptionPath(n.Subscription),
			Topic:              n.TopicPath(n.InputTopic),
			AckDeadlineSeconds: int32(o.AckDeadline / time.Second),
			DeadLetterPolicy: &pubsubpb.DeadLetterPolicy{
				DeadLetterTopic:     n.TopicPath(n.DeadLetterTopic),
				MaxDeliveryAttempts: int32(o.MaxDeliveryAttempts),
			},
			RetryPolicy: &pubsubpb.RetryPolicy{
				MinimumBackoff: durationpb.New(o.MinBackoff),
				MaximumBackoff: durationpb.New(o.MaxBackoff),
			},
			ExpirationPolicy: &pubsubpb.ExpirationPolicy{}, // never expires
		},
		{
			Name:                     n.SubscriptionPath(n.DeadLetterSubscription),
			Topic:                    n.TopicPath(n.DeadLetterTopic),
			AckDeadlineSeconds:       int32(o.AckDeadline / time.Second),
			MessageRetentionDuration: durationpb.New(o.DeadLetterRetention),
			ExpirationPolicy:         &pubsubpb.ExpirationPolicy{},
		},
	}
	for _, want := range subs {
		res, err := ensureSubscription(ctx, client, want)
		if err != nil {
			return r, fmt.Errorf("setup: %w", err)
		}
		r.Resources = append(r.Resources, res)
	}
	return r, nil
}

func ensureTopic(ctx context.Context, c *pubsub.Client, name string) (Resource, error) {
	res := Resource{Kind: "topic", Name: name, Action: Exists}
	_, err := c.TopicAdminClient.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: name})
	if err == nil {
		return res, nil
	}
	if status.Code(err) != codes.NotFound {
		return res, fmt.Errorf("get topic %s: %w", name, err)
	}
	_, err = c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: name})
	switch {
	case err == nil:
		res.Action = Created
	case status.Code(err) == codes.AlreadyExists: // created concurrently
	default:
		return res, fmt.Errorf("create topic %s: %w", name, err)
	}
	return res, nil
}

func ensureSubscription(ctx context.Context, c *pubsub.Client, want *pubsubpb.Subscription) (Resource, error) {
	res := Resource{Kind: "subscription", Name: want.Name, Action: Exists}
	got, err := c.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: want.Name})
	if status.Code(err) == codes.NotFound {
		_, err = c.SubscriptionAdminClient.CreateSubscription(ctx, want)
		if err == nil {
			res.Action = Created
			return res, nil
		}
		if status.Code(err) != codes.AlreadyExists {
			return res, fmt.Errorf("create subscription %s on %s: %w", want.Name, want.Topic, err)
		}
		got, err = c.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: want.Name})
	}
	if err != nil {
		return res, fmt.Errorf("get subscription %s: %w", want.Name, err)
	}
	if got.Topic != want.Topic {
		return res, fmt.Errorf("subscription %s is attached to topic %s, not %s: delete it or choose another subscription name",
			want.Name, got.Topic, want.Topic)
	}
	paths, details := subscriptionDrift(got, want)
	if len(paths) == 0 {
		return res, nil
	}
	_, err = c.SubscriptionAdminClient.UpdateSubscription(ctx, &pubsubpb.UpdateSubscriptionRequest{
		Subscription: want,
		UpdateMask:   &fieldmaskpb.FieldMask{Paths: paths},
	})
	if err != nil {
		return res, fmt.Errorf("update subscription %s (%s): %w", want.Name, strings.Join(details, "; "), err)
	}
	res.Action = Updated
	res.Detail = strings.Join(details, "; ")
	return res, nil
}

// subscriptionDrift returns the update-mask paths where got differs from
// want, with a description of each difference.
func subscriptionDrift(got, want *pubsubpb.Subscription) (paths, details []string) {
	add := func(path, from, to string) {
		paths = append(paths, path)
		details = append(details, fmt.Sprintf("%s: %s -> %s", path, from, to))
	}
	if got.AckDeadlineSeconds != want.AckDeadlineSeconds {
		add("ack_deadline_seconds", fmt.Sprint(got.AckDeadlineSeconds), fmt.Sprint(want.AckDeadlineSeconds))
	}
	if g, w := describeDeadLetter(got.DeadLetterPolicy), describeDeadLetter(want.DeadLetterPolicy); g != w {
		add("dead_letter_policy", g, w)
	}
	if g, w := describeRetry(got.RetryPolicy), describeRetry(want.RetryPolicy); g != w {
		add("retry_policy", g, w)
	}
	// An unset expiration policy on a subscription read back means the
	// service applies none; a TTL means the subscription expires when idle.
	if got.ExpirationPolicy.GetTtl() != nil && want.ExpirationPolicy.GetTtl() == nil {
		add("expiration_policy", "ttl "+got.ExpirationPolicy.GetTtl().AsDuration().String(), "never")
	}
	if w := want.MessageRetentionDuration; w != nil && got.MessageRetentionDuration.AsDuration() != w.AsDuration() {
		add("message_retention_duration", got.MessageRetentionDuration.AsDuration().String(), w.AsDuration().String())
	}
	return paths, details
}

func describeDeadLetter(p *pubsubpb.DeadLetterPolicy) string {
	if p == nil || p.DeadLetterTopic == "" {
		return "none"
	}
	return fmt.Sprintf("topic %s, max %d delivery attempts", p.DeadLetterTopic, p.MaxDeliveryAttempts)
}

func describeRetry(p *pubsubpb.RetryPolicy) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprintf("backoff %s..%s", p.MinimumBackoff.AsDuration(), p.MaximumBackoff.AsDuration())
}
