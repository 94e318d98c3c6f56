// Package pubsub connects stage 6 to Google Cloud Pub/Sub (SPEC §5-7): it
// creates the topics and subscriptions (Setup), runs the subscriber loop
// that turns each stage5.complete event into a worker.Request and decides
// whether the message is acked, nacked or dead-lettered (Worker), and
// publishes stage5.complete events (PublishStage5).
//
// It works the same against Pub/Sub, the gcloud emulator and the in-process
// fake (pstest): callers hand it a *pubsub.Client (see NewClient) and keep
// ownership of it.
package pubsub

import (
	"context"
	"fmt"
	"strings"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Names are the resource ids (not full resource names) stage 6 uses, all in
// Project.
type Names struct {
	Project                string
	InputTopic             string // stage5.complete events
	Subscription           string // the worker's subscription on InputTopic
	OutputTopic            string // stage6.complete events
	DeadLetterTopic        string // dead-lettered stage5.complete events
	DeadLetterSubscription string // on DeadLetterTopic, read by replay
}

// Validate reports the first missing or malformed name.
func (n Names) Validate() error {
	for _, f := range []struct{ field, value string }{
		{"project", n.Project},
		{"input topic", n.InputTopic},
		{"subscription", n.Subscription},
		{"output topic", n.OutputTopic},
		{"dead-letter topic", n.DeadLetterTopic},
		{"dead-letter subscription", n.DeadLetterSubscription},
	} {
		if f.value == "" {
			return fmt.Errorf("pubsub names: %s is empty", f.field)
		}
		if strings.Contains(f.value, "/") {
			return fmt.Errorf("pubsub names: %s %q must be an id, not a resource path", f.field, f.value)
		}
	}
	if n.InputTopic == n.DeadLetterTopic {
		return fmt.Errorf("pubsub names: the dead-letter topic must differ from the input topic %q", n.InputTopic)
	}
	if n.Subscription == n.DeadLetterSubscription {
		return fmt.Errorf("pubsub names: the dead-letter subscription must differ from the worker subscription %q", n.Subscription)
	}
	return nil
}

// TopicPath returns the full resource name of topic id in n.Project.
func (n Names) TopicPath(id string) string {
	return "projects/" + n.Project + "/topics/" + id
}

// SubscriptionPath returns the full resource name of subscription id in
// n.Project.
func (n Names) SubscriptionPath(id string) string {
	return "projects/" + n.Project + "/subscriptions/" + id
}

// NewClient returns a Pub/Sub client for project. When emulatorHost
// ("host:port") is not empty it connects to an emulator there, without TLS
// or credentials; otherwise it uses Application Default Credentials and
// opts. The caller closes the client, after every Worker using it returned.
func NewClient(ctx context.Context, project, emulatorHost string, opts ...option.ClientOption) (*pubsub.Client, error) {
	if emulatorHost != "" {
		opts = append([]option.ClientOption{
			option.WithEndpoint(emulatorHost),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
			option.WithTelemetryDisabled(),
		}, opts...)
	}
	c, err := pubsub.NewClient(ctx, project, opts...)
	if err != nil {
		return nil, fmt.Errorf("create pubsub client for project %s: %w", project, err)
	}
	return c, nil
}
