package pubsub

import (
	"context"
	"fmt"

	"cloud.google.com/go/pubsub/v2"

	"github.com/turnstile-dev/turnstile/internal/events"
)

// PublishStage5 publishes e to topic (an id in the client's project, or a
// full resource name), waits until Pub/Sub accepted it and returns its
// message id. It returns the *events.DecodeError of e.Encode when e is not a
// valid event. It is safe for concurrent use; each call has its own
// publisher, so callers that publish many events should batch them through
// one *pubsub.Publisher instead.
func PublishStage5(ctx context.Context, client *pubsub.Client, topic string, e events.Stage5) (messageID string, err error) {
	data, attrs, err := e.Encode()
	if err != nil {
		return "", err
	}
	p := client.Publisher(topic)
	defer p.Stop()
	id, err := p.Publish(ctx, &pubsub.Message{Data: data, Attributes: attrs}).Get(ctx)
	if err != nil {
		return "", fmt.Errorf("publish %s for partition %s run %s to %s: %w",
			events.TypeStage5, e.PartitionDate, e.RunID, p, err)
	}
	return id, nil
}
