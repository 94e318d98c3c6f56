package dlq

import (
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var published = time.Date(2026, 1, 22, 10, 0, 0, 0, time.UTC)

func message(id, data string, attrs map[string]string) *pubsubpb.PubsubMessage {
	return &pubsubpb.PubsubMessage{MessageId: id, Data: []byte(data), Attributes: attrs, PublishTime: timestamppb.New(published)}
}

func TestNewEntry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		data  string
		attrs map[string]string
		want  Entry
	}{
		{
			name: "dead-lettered by the worker",
			data: `{"schema_version": 1, "event_type": "stage5.complete", "partition_date": "2026-01-22"`,
			attrs: map[string]string{
				"event_type": "stage5.complete", "partition_date": "2026-01-22", "run_id": "run-1",
				"turnstile_error": "invalid stage5.complete event: malformed JSON at byte 80", "turnstile_error_class": "permanent",
				"turnstile_step": "decode", "turnstile_failed_at": "2026-01-22T09:59:58.5Z",
				"turnstile_source_message_id": "41", "turnstile_delivery_attempt": "1",
			},
			want: Entry{
				MessageID: "m1", SourceMessageID: "41", Partition: "2026-01-22", RunID: "run-1",
				ErrorClass: "permanent", Error: "invalid stage5.complete event: malformed JSON at byte 80", Step: "decode",
				DeliveryCount: 1, PublishTime: published, FailedAt: time.Date(2026, 1, 22, 9, 59, 58, 5e8, time.UTC),
			},
		},
		{
			name: "forwarded by Pub/Sub after a replay",
			data: `{"schema_version": 1, "event_type": "stage5.complete", "partition_date": "2026-01-23", "run_id": "run-2"}`,
			attrs: map[string]string{
				"partition_date": "2026-01-23", "run_id": "run-2",
				"CloudPubSubDeadLetterSourceDeliveryCount": "5", "CloudPubSubDeadLetterSourceSubscription": "stage6-worker",
				"turnstile_delivery_attempt": "3", // a stale attempt must not win over Pub/Sub's count
				"turnstile_replay_count":     "2", "turnstile_replayed_at": "2026-01-22T08:00:00Z",
			},
			want: Entry{
				MessageID: "m1", Partition: "2026-01-23", RunID: "run-2", ErrorClass: ClassUnknown,
				Error: "dead-lettered by Pub/Sub after 5 delivery attempts", DeliveryCount: 5, PublishTime: published,
				ReplayCount: 2, ReplayedAt: time.Date(2026, 1, 22, 8, 0, 0, 0, time.UTC),
			},
		},
		{
			name:  "no attributes: partition and run from the data",
			data:  `{"schema_version": 7, "partition_date": "2026-01-24", "run_id": "run-3"}`,
			attrs: map[string]string{"turnstile_error_class": "permanent"},
			want:  Entry{MessageID: "m1", Partition: "2026-01-24", RunID: "run-3", ErrorClass: "permanent", PublishTime: published},
		},
		{
			name:  "data of the wrong JSON types",
			data:  `{"partition_date": 20260124, "run_id": ["x"]}`,
			attrs: nil,
			want:  Entry{MessageID: "m1", ErrorClass: ClassUnknown, PublishTime: published},
		},
		{
			name:  "not JSON, unparsable attributes",
			data:  `not json`,
			attrs: map[string]string{"turnstile_replay_count": "many", "turnstile_failed_at": "yesterday", "turnstile_delivery_attempt": "x"},
			want:  Entry{MessageID: "m1", ErrorClass: ClassUnknown, PublishTime: published},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := newEntry(message("m1", tc.data, tc.attrs))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("newEntry (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReplayCount(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		attrs   map[string]string
		want    int
		wantErr bool
	}{
		{name: "absent", attrs: map[string]string{"run_id": "r"}, want: 0},
		{name: "a count", attrs: map[string]string{AttrReplayCount: "3"}, want: 3},
		{name: "negative", attrs: map[string]string{AttrReplayCount: "-1"}, wantErr: true},
		{name: "not a number", attrs: map[string]string{AttrReplayCount: "two"}, wantErr: true},
		{name: "empty", attrs: map[string]string{AttrReplayCount: ""}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := replayCount(tc.attrs)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("replayCount = %d, %v; want %d, error %t", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestReplayAttributes(t *testing.T) {
	t.Parallel()
	in := map[string]string{
		"event_type": "stage5.complete", "schema_version": "1", "partition_date": "2026-01-22", "run_id": "run-1",
		"origin":          "backfill",
		"turnstile_error": "boom", "turnstile_error_class": "retryable", "turnstile_step": "check_input",
		"turnstile_failed_at": "2026-01-22T10:00:00Z", "turnstile_source_message_id": "9", "turnstile_delivery_attempt": "5",
		"turnstile_replay_count": "1", "turnstile_replayed_at": "2026-01-21T10:00:00Z",
		"CloudPubSubDeadLetterSourceDeliveryCount": "5", "CloudPubSubDeadLetterSourceSubscription": "w",
		"CloudPubSubDeadLetterSourceSubscriptionProject": "p", "CloudPubSubDeadLetterSourceTopicPublishTime": "2026-01-22T10:00:00Z",
	}
	now := time.Date(2026, 1, 23, 11, 30, 0, 0, time.FixedZone("CET", 3600))
	got := replayAttributes(in, 2, now)
	want := map[string]string{
		"event_type": "stage5.complete", "schema_version": "1", "partition_date": "2026-01-22", "run_id": "run-1",
		"origin":                 "backfill",
		"turnstile_replay_count": "2", "turnstile_replayed_at": "2026-01-23T10:30:00Z",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("replayAttributes (-want +got):\n%s", diff)
	}
	if in["turnstile_error"] != "boom" {
		t.Error("replayAttributes changed its input")
	}
}

func TestFilterMatch(t *testing.T) {
	t.Parallel()
	day := civil.Date{Year: 2026, Month: 1, Day: 22}
	other := civil.Date{Year: 2026, Month: 1, Day: 23}
	entry := Entry{Partition: "2026-01-22", ErrorClass: "retryable", PublishTime: published}
	now := published.Add(time.Hour)
	for _, tc := range []struct {
		name   string
		filter Filter
		entry  Entry
		want   bool
	}{
		{name: "zero filter", filter: Filter{}, entry: entry, want: true},
		{name: "same partition", filter: Filter{Partition: &day}, entry: entry, want: true},
		{name: "other partition", filter: Filter{Partition: &other}, entry: entry, want: false},
		{name: "partition unknown", filter: Filter{Partition: &day}, entry: Entry{ErrorClass: "retryable", PublishTime: published}, want: false},
		{name: "same class", filter: Filter{ErrorClass: "retryable"}, entry: entry, want: true},
		{name: "other class", filter: Filter{ErrorClass: "permanent"}, entry: entry, want: false},
		{name: "unknown class", filter: Filter{ErrorClass: ClassUnknown}, entry: Entry{ErrorClass: ClassUnknown}, want: true},
		{name: "older than, exactly", filter: Filter{OlderThan: time.Hour}, entry: entry, want: true},
		{name: "not old enough", filter: Filter{OlderThan: time.Hour + time.Second}, entry: entry, want: false},
		{name: "all conditions", filter: Filter{Partition: &day, ErrorClass: "retryable", OlderThan: time.Minute, Limit: 1}, entry: entry, want: true},
		{name: "one condition fails", filter: Filter{Partition: &day, ErrorClass: "permanent", OlderThan: time.Minute}, entry: entry, want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.filter.Match(tc.entry, now); got != tc.want {
				t.Errorf("Match = %t, want %t", got, tc.want)
			}
		})
	}
}

func TestFilterValidate(t *testing.T) {
	t.Parallel()
	bad := civil.Date{Year: 2026, Month: 2, Day: 30}
	for _, tc := range []struct {
		name    string
		filter  Filter
		wantErr bool
	}{
		{name: "zero", filter: Filter{}},
		{name: "classes", filter: Filter{ErrorClass: "unknown", OlderThan: time.Hour, Limit: 3}},
		{name: "unknown class", filter: Filter{ErrorClass: "fatal"}, wantErr: true},
		{name: "negative age", filter: Filter{OlderThan: -time.Second}, wantErr: true},
		{name: "negative limit", filter: Filter{Limit: -1}, wantErr: true},
		{name: "invalid date", filter: Filter{Partition: &bad}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := tc.filter.Validate(); (err != nil) != tc.wantErr {
				t.Errorf("Validate = %v, want error %t", err, tc.wantErr)
			}
		})
	}
}
