package pubsub

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestNamesValidate(t *testing.T) {
	t.Parallel()
	good := testNames("p", "")
	tests := []struct {
		name     string
		edit     func(n *Names)
		wantText string // "" for valid
	}{
		{name: "valid", edit: func(*Names) {}},
		{name: "no project", edit: func(n *Names) { n.Project = "" }, wantText: "project is empty"},
		{name: "no input topic", edit: func(n *Names) { n.InputTopic = "" }, wantText: "input topic is empty"},
		{name: "no subscription", edit: func(n *Names) { n.Subscription = "" }, wantText: "subscription is empty"},
		{name: "no dead-letter subscription", edit: func(n *Names) { n.DeadLetterSubscription = "" }, wantText: "dead-letter subscription is empty"},
		{name: "path instead of id", edit: func(n *Names) { n.OutputTopic = "projects/p/topics/x" }, wantText: "must be an id"},
		{name: "dead letters to the input", edit: func(n *Names) { n.DeadLetterTopic = n.InputTopic }, wantText: "must differ from the input topic"},
		{name: "one subscription for both", edit: func(n *Names) { n.DeadLetterSubscription = n.Subscription }, wantText: "must differ from the worker subscription"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := good
			tc.edit(&n)
			err := n.Validate()
			switch {
			case tc.wantText == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tc.wantText != "" && (err == nil || !strings.Contains(err.Error(), tc.wantText)):
				t.Errorf("Validate = %v, want an error containing %q", err, tc.wantText)
			}
		})
	}
}

func TestSetupOptionsInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		o        SetupOptions
		wantText string
	}{
		{name: "too few attempts", o: SetupOptions{MaxDeliveryAttempts: 4}, wantText: "max delivery attempts 4"},
		{name: "too many attempts", o: SetupOptions{MaxDeliveryAttempts: 101}, wantText: "max delivery attempts 101"},
		{name: "backoff bounds reversed", o: SetupOptions{MinBackoff: time.Minute, MaxBackoff: time.Second}, wantText: "maximum retry backoff"},
		{name: "backoff too long", o: SetupOptions{MinBackoff: 11 * time.Minute}, wantText: "minimum retry backoff"},
		{name: "ack deadline too short", o: SetupOptions{AckDeadline: time.Second}, wantText: "ack deadline"},
		{name: "retention too long", o: SetupOptions{DeadLetterRetention: 8 * 24 * time.Hour}, wantText: "dead-letter retention"},
	}
	f := newFake(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Setup(context.Background(), f.client, testNames("test-project", ""), tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("Setup = %v, want an error containing %q", err, tc.wantText)
			}
		})
	}
}

// checkSetupReports runs Setup twice and checks the reports and what the
// service holds afterwards.
func checkSetupReports(t *testing.T, client *pubsub.Client, n Names, o SetupOptions) {
	t.Helper()
	first := setUp(t, client, n, o)
	want := Report{Resources: []Resource{
		{Kind: "topic", Name: n.TopicPath(n.InputTopic), Action: Created},
		{Kind: "topic", Name: n.TopicPath(n.DeadLetterTopic), Action: Created},
		{Kind: "topic", Name: n.TopicPath(n.OutputTopic), Action: Created},
		{Kind: "subscription", Name: n.SubscriptionPath(n.Subscription), Action: Created},
		{Kind: "subscription", Name: n.SubscriptionPath(n.DeadLetterSubscription), Action: Created},
	}}
	if diff := cmp.Diff(want, first); diff != "" {
		t.Errorf("first Setup (-want +got):\n%s", diff)
	}
	if !first.Changed() {
		t.Error("first Setup reports no change")
	}

	second := setUp(t, client, n, o)
	for i := range want.Resources {
		want.Resources[i].Action = Exists
	}
	if diff := cmp.Diff(want, second); diff != "" {
		t.Errorf("second Setup (-want +got):\n%s", diff)
	}
	if second.Changed() || !strings.Contains(second.String(), "nothing to do") {
		t.Errorf("second Setup reports changes:\n%s", second)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := client.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: n.SubscriptionPath(n.Subscription)})
	if err != nil {
		t.Fatal(err)
	}
	type policy struct {
		Topic         string
		AckDeadline   int32
		DeadLetter    string
		MaxAttempts   int32
		MinBackoff    time.Duration
		MaxBackoff    time.Duration
		ExpiresWithin time.Duration
	}
	got := policy{
		Topic: sub.Topic, AckDeadline: sub.AckDeadlineSeconds,
		DeadLetter: sub.GetDeadLetterPolicy().GetDeadLetterTopic(), MaxAttempts: sub.GetDeadLetterPolicy().GetMaxDeliveryAttempts(),
		MinBackoff: sub.GetRetryPolicy().GetMinimumBackoff().AsDuration(), MaxBackoff: sub.GetRetryPolicy().GetMaximumBackoff().AsDuration(),
		ExpiresWithin: sub.GetExpirationPolicy().GetTtl().AsDuration(),
	}
	o, _ = o.withDefaults()
	wantPolicy := policy{
		Topic: n.TopicPath(n.InputTopic), AckDeadline: int32(o.AckDeadline / time.Second),
		DeadLetter: n.TopicPath(n.DeadLetterTopic), MaxAttempts: int32(o.MaxDeliveryAttempts),
		MinBackoff: o.MinBackoff, MaxBackoff: o.MaxBackoff,
	}
	if diff := cmp.Diff(wantPolicy, got); diff != "" {
		t.Errorf("worker subscription read back (-want +got):\n%s", diff)
	}
	dl, err := client.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: n.SubscriptionPath(n.DeadLetterSubscription)})
	if err != nil {
		t.Fatal(err)
	}
	if dl.Topic != n.TopicPath(n.DeadLetterTopic) || dl.DeadLetterPolicy != nil || dl.GetMessageRetentionDuration().AsDuration() != o.DeadLetterRetention {
		t.Errorf("dead-letter subscription read back: topic %s, dead-letter policy %v, retention %s; want topic %s, no policy, retention %s",
			dl.Topic, dl.DeadLetterPolicy, dl.GetMessageRetentionDuration().AsDuration(), n.TopicPath(n.DeadLetterTopic), o.DeadLetterRetention)
	}
}

func TestSetupIsIdempotent(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	checkSetupReports(t, f.client, testNames("test-project", ""), SetupOptions{MaxDeliveryAttempts: 7, MinBackoff: time.Second, MaxBackoff: time.Minute})
}

func TestSetupUpdatesDriftedSubscription(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	n := testNames("test-project", "")
	ctx := context.Background()
	for _, id := range []string{n.InputTopic, n.DeadLetterTopic} {
		if _, err := f.client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: n.TopicPath(id)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := f.client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: n.SubscriptionPath(n.Subscription), Topic: n.TopicPath(n.InputTopic), AckDeadlineSeconds: 60,
		DeadLetterPolicy: &pubsubpb.DeadLetterPolicy{DeadLetterTopic: n.TopicPath(n.DeadLetterTopic), MaxDeliveryAttempts: 10},
		ExpirationPolicy: &pubsubpb.ExpirationPolicy{Ttl: durationpb.New(31 * 24 * time.Hour)},
	})
	if err != nil {
		t.Fatal(err)
	}

	r := setUp(t, f.client, n, SetupOptions{})
	var got Resource
	for _, res := range r.Resources {
		if res.Name == n.SubscriptionPath(n.Subscription) {
			got = res
		}
	}
	if got.Action != Updated {
		t.Fatalf("worker subscription: %+v, want Updated", got)
	}
	for _, want := range []string{"dead_letter_policy:", "max 10 delivery attempts", "max 5 delivery attempts", "retry_policy: none -> backoff 10s..10m0s", "expiration_policy: ttl 744h0m0s -> never"} {
		if !strings.Contains(got.Detail, want) {
			t.Errorf("update detail %q does not mention %q", got.Detail, want)
		}
	}
	sub, err := f.client.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: n.SubscriptionPath(n.Subscription)})
	if err != nil {
		t.Fatal(err)
	}
	if got := sub.GetDeadLetterPolicy().GetMaxDeliveryAttempts(); got != 5 {
		t.Errorf("max delivery attempts after update = %d, want 5", got)
	}
	if again := setUp(t, f.client, n, SetupOptions{}); again.Changed() {
		t.Errorf("Setup after the update still changes something:\n%s", again)
	}
}

func TestSetupRejectsSubscriptionOnAnotherTopic(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	n := testNames("test-project", "")
	ctx := context.Background()
	other := n.TopicPath("something-else")
	if _, err := f.client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: other}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: n.SubscriptionPath(n.Subscription), Topic: other, AckDeadlineSeconds: 60}); err != nil {
		t.Fatal(err)
	}
	r, err := Setup(ctx, f.client, n, SetupOptions{})
	if err == nil || !strings.Contains(err.Error(), "attached to topic "+other) {
		t.Fatalf("Setup = %v, want an error naming the other topic", err)
	}
	if len(r.Resources) != 3 {
		t.Errorf("report lists %d resources, want the 3 topics done before the error", len(r.Resources))
	}
}
