// Package dlq reads, replays and drops the dead-lettered stage5.complete
// events of SPEC §7, on the dead-letter subscription that pubsub.Setup
// creates; it backs `turnstile dlq list|replay|drop` (see AddFlags).
//
// List shows the events without consuming them; Replay republishes them to
// the input topic and acks each one only after its republish succeeded;
// Drop acks (discards) them. All three select events with a Filter and read
// the subscription the same way (see Options): they pull the messages and
// hold them, extending their leases, until no new message has arrived for
// a quiet period; then they act on the selected ones and release every
// other message with a nack, so that it is available again at once.
//
// Listing therefore consumes nothing: running it twice shows the same
// events. Pub/Sub gives no way to know that a subscription has been read to
// the end, so a scan ends when no new message id has arrived for
// Options.QuietPeriod (a message delivered again is not new), when the
// Filter's Limit is reached, after Options.Timeout, or after
// Options.MaxMessages messages; results say which (StopReason).
//
// Two commands reading the same subscription at once each see only the
// messages the other does not hold: run one at a time.
package dlq
