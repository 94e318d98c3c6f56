package turns

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 1, 22, 10, 0, 0, 0, time.UTC)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

func withSeq(id string, seq int64) Message {
	return Message{MessageID: id, Seq: seq, HasSeq: true}
}

func ids(msgs []Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.MessageID
	}
	return out
}

func TestSortMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []Message
		want []string
	}{
		{
			name: "by seq",
			in:   []Message{withSeq("c", 2), withSeq("a", 0), withSeq("b", 1)},
			want: []string{"a", "b", "c"},
		},
		{
			name: "negative and large seq",
			in:   []Message{withSeq("big", 1<<40), withSeq("neg", -3), withSeq("zero", 0)},
			want: []string{"neg", "zero", "big"},
		},
		{
			name: "seq NULL last even when its value field is smaller",
			in:   []Message{{MessageID: "null", Seq: -5}, withSeq("two", 2), withSeq("one", 1)},
			want: []string{"one", "two", "null"},
		},
		{
			name: "seq before created_at",
			in: []Message{
				{MessageID: "a", Seq: 1, HasSeq: true, CreatedAt: at(0)},
				{MessageID: "b", Seq: 0, HasSeq: true, CreatedAt: at(time.Hour)},
			},
			want: []string{"b", "a"},
		},
		{
			name: "created_at breaks seq ties",
			in: []Message{
				{MessageID: "a", Seq: 1, HasSeq: true, CreatedAt: at(2 * time.Second)},
				{MessageID: "b", Seq: 1, HasSeq: true, CreatedAt: at(time.Second)},
			},
			want: []string{"b", "a"},
		},
		{
			name: "created_at NULL last",
			in: []Message{
				{MessageID: "a", CreatedAt: time.Time{}},
				{MessageID: "b", CreatedAt: at(time.Hour)},
				{MessageID: "c", CreatedAt: at(0)},
			},
			want: []string{"c", "b", "a"},
		},
		{
			name: "created_at compares instants across zones",
			in: []Message{
				{MessageID: "a", CreatedAt: at(time.Minute).In(time.FixedZone("east", 5*3600))},
				{MessageID: "b", CreatedAt: at(0).In(time.FixedZone("west", -5*3600))},
			},
			want: []string{"b", "a"},
		},
		{
			name: "message_id breaks ties in byte order",
			in: []Message{
				{MessageID: "m10", CreatedAt: at(0)},
				{MessageID: "m2", CreatedAt: at(0)},
				{MessageID: "M9", CreatedAt: at(0)},
				{MessageID: "m1", CreatedAt: at(0)},
			},
			want: []string{"M9", "m1", "m10", "m2"},
		},
		{
			name: "no seq and no time: message_id only",
			in:   []Message{{MessageID: "b"}, {MessageID: "c"}, {MessageID: "a"}},
			want: []string{"a", "b", "c"},
		},
		{
			name: "all keys NULL sorts after known ones",
			in: []Message{
				{MessageID: "a"},
				{MessageID: "z", CreatedAt: at(0)},
				withSeq("y", 7),
			},
			want: []string{"y", "z", "a"},
		},
		{
			name: "already sorted stays",
			in:   []Message{withSeq("x", 0), withSeq("y", 1), withSeq("z", 2)},
			want: []string{"x", "y", "z"},
		},
		{name: "empty", in: nil, want: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			SortMessages(tc.in)
			if diff := cmp.Diff(tc.want, ids(tc.in)); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSortMessagesStable(t *testing.T) {
	t.Parallel()
	// Equal keys (a repeated message) keep their relative order, so the
	// first of them is the one that pairing keeps.
	msgs := []Message{
		{MessageID: "b", Seq: 1, HasSeq: true, Content: "later"},
		{MessageID: "a", Seq: 1, HasSeq: true, Content: "first copy"},
		{MessageID: "a", Seq: 1, HasSeq: true, Content: "second copy"},
		{MessageID: "a", Seq: 0, HasSeq: true, Content: "earliest"},
	}
	SortMessages(msgs)
	got := make([]string, len(msgs))
	for i, m := range msgs {
		got[i] = m.MessageID + ":" + m.Content
	}
	want := []string{"a:earliest", "a:first copy", "a:second copy", "b:later"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestSortMessagesStableLarge(t *testing.T) {
	t.Parallel()
	// Enough messages that an unstable sort would reorder equal keys.
	var msgs []Message
	for i := range 80 {
		if i%2 == 0 {
			msgs = append(msgs, Message{MessageID: "dup", Seq: 1, HasSeq: true, Content: fmt.Sprintf("%02d", i)})
		} else {
			msgs = append(msgs, Message{MessageID: fmt.Sprintf("x%02d", 80-i), Seq: 0, HasSeq: true})
		}
	}
	SortMessages(msgs)
	var got []string
	for _, m := range msgs[40:] {
		got = append(got, m.Content)
	}
	var want []string
	for i := 0; i < 80; i += 2 {
		want = append(want, fmt.Sprintf("%02d", i))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order of equal keys (-want +got):\n%s", diff)
	}
}
