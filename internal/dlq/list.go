package dlq

import (
	"context"
	"fmt"

	"cloud.google.com/go/pubsub/v2"

	tpubsub "github.com/turnstile-dev/turnstile/internal/pubsub"
)

// Listing is what List found.
type Listing struct {
	Entries []Entry    `json:"entries"` // the selected events, oldest first
	Scanned int        `json:"scanned"` // dead letters read, selected or not
	Stop    StopReason `json:"scan_stop"`
}

// List returns the dead-lettered events on n's dead-letter subscription
// that o selects, without consuming any: every message read is released
// (nacked) before List returns, so listing twice shows the same events.
//
// If the release fails, List returns the listing with an error; the
// messages then reappear when their lease (60s) expires.
func List(ctx context.Context, client *pubsub.Client, n tpubsub.Names, o Options) (Listing, error) {
	sub := n.SubscriptionPath(n.DeadLetterSubscription)
	s, err := read(ctx, client, n, o, defaultLease)
	if err != nil {
		return Listing{}, fmt.Errorf("list dead letters on %s: %w", sub, err)
	}
	l := Listing{Entries: make([]Entry, 0, len(s.selected)), Scanned: s.scanned, Stop: s.stop}
	for _, h := range s.selected {
		l.Entries = append(l.Entries, h.entry)
	}
	if err := s.lease.release(ctx); err != nil {
		return l, fmt.Errorf("list dead letters on %s: %w", sub, err)
	}
	return l, nil
}
