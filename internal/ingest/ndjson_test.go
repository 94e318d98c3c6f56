package ingest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/turnstile-dev/turnstile/internal/ingest"
)

func TestNDJSON(t *testing.T) {
	t.Parallel()
	input := strings.Join([]string{
		`{"message_id": "m1", "conversation_id": "c1", "seq": 0, "role": "user", "content": "hi", "created_at": "2026-01-22T10:00:00Z", "metadata": {"a": [1, 2]}, "ingestion_date": "2026-01-22"}`,
		`{"message_id": "m2", "conversation_id": "c1", "seq": null, "role": null, "content": null, "created_at": null, "metadata": null, "ingestion_date": null}`,
		``,
		`{"message_id": "m2", "conversation_id": "c1"}`,
		`{"conversation_id": "c2", "message_id": "x", "seq": -3, "role": " Bot ", "content": "", "created_at": "2026-01-22T12:30:00.123456+02:00", "metadata": "free text"}`,
		`{"message_id": "m3", "conversation_id": "c1", "seq": 9007199254740993, "metadata": 12}`,
	}, "\n") + "\n"
	row := func(msgID, conv string) ingest.MessageRow {
		return ingest.MessageRow{MessageID: msgID, ConversationID: conv}
	}
	m1 := row("m1", "c1")
	m1.Seq, m1.HasSeq = 0, true
	m1.Role, m1.HasRole = "user", true
	m1.Content, m1.HasContent = "hi", true
	m1.CreatedAt = time.Date(2026, 1, 22, 10, 0, 0, 0, time.UTC)
	m1.Metadata = rawJSON(`{"a":[1,2]}`)
	x := row("x", "c2")
	x.Seq, x.HasSeq = -3, true
	x.Role, x.HasRole = " Bot ", true
	x.HasContent = true
	x.CreatedAt = time.Date(2026, 1, 22, 10, 30, 0, 123456000, time.UTC)
	x.Metadata = rawJSON(`"free text"`)
	m3 := row("m3", "c1")
	m3.Seq, m3.HasSeq = 9007199254740993, true
	m3.Metadata = rawJSON(`12`)
	want := []ingest.Conversation{
		{ConversationID: "c1", Source: "chat", Messages: []ingest.MessageRow{m1, row("m2", "c1"), row("m2", "c1")}},
		{ConversationID: "c2", Source: "chat", Messages: []ingest.MessageRow{x}},
		{ConversationID: "c1", Source: "chat", Messages: []ingest.MessageRow{m3}},
	}
	got, err := readAll(t, ingest.NewNDJSON(strings.NewReader(input), "chat", testDay))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("conversations (-want +got):\n%s", diff)
	}
}

func TestNDJSONErrors(t *testing.T) {
	t.Parallel()
	good := `{"message_id": "m1", "conversation_id": "c1"}`
	other := `{"message_id": "m1", "conversation_id": "c2"}`
	tests := []struct {
		name   string
		input  string
		good   int
		want   string
		prefix bool
	}{
		{name: "malformed", input: good + "\n" + `{"message_id": "m2",`, want: "ndjson: line 2: malformed JSON: ", prefix: true},
		{name: "not an object", input: `"m1"`, want: "ndjson: line 1: want a JSON object, got string"},
		{name: "message_id missing", input: `{"conversation_id": "c1"}`, want: "ndjson: line 1: message_id: missing"},
		{name: "conversation_id missing", input: `{"message_id": "m1"}`, want: "ndjson: line 1: conversation_id: missing"},
		{name: "message_id empty", input: `{"message_id": "", "conversation_id": "c1"}`,
			want: `ndjson: line 1: message_id: want a non-empty string, got ""`},
		{name: "conversation_id null", input: `{"message_id": "m", "conversation_id": null}`,
			want: "ndjson: line 1: conversation_id: want a non-empty string, got null"},
		{name: "message_id a number", input: `{"message_id": 1, "conversation_id": "c1"}`,
			want: "ndjson: line 1: message_id: want a non-empty string, got number"},
		{name: "unknown field", input: good + "\n" + `{"message_id": "m2", "conversation_id": "c1", "conent": "hi"}`,
			want: "ndjson: line 2: conent: unknown field (want message_id, conversation_id, seq, role, content, created_at, metadata, ingestion_date)"},
		{name: "seq a fraction", input: `{"message_id": "m", "conversation_id": "c", "seq": 1.5}`,
			want: "ndjson: line 1: seq: want an integer or null, got 1.5"},
		{name: "seq a string", input: `{"message_id": "m", "conversation_id": "c", "seq": "1"}`,
			want: "ndjson: line 1: seq: want an integer or null, got string"},
		{name: "seq too big", input: `{"message_id": "m", "conversation_id": "c", "seq": 9223372036854775808}`,
			want: "ndjson: line 1: seq: want an integer or null, got 9223372036854775808"},
		{name: "role a boolean", input: `{"message_id": "m", "conversation_id": "c", "role": true}`,
			want: "ndjson: line 1: role: want string or null, got boolean"},
		{name: "content an object", input: `{"message_id": "m", "conversation_id": "c", "content": {}}`,
			want: "ndjson: line 1: content: want string or null, got object"},
		{name: "created_at not RFC 3339", input: `{"message_id": "m", "conversation_id": "c", "created_at": "2026-01-22 10:00:00"}`,
			want: `ndjson: line 1: created_at: want an RFC 3339 timestamp, got "2026-01-22 10:00:00"`},
		{name: "created_at a number", input: `{"message_id": "m", "conversation_id": "c", "created_at": 1769076000}`,
			want: "ndjson: line 1: created_at: want an RFC 3339 timestamp or null, got number"},
		{name: "other partition", input: good + "\n" + other + "\n\n" + `{"message_id": "m", "conversation_id": "c3", "ingestion_date": "2026-01-21"}`, good: 1,
			want: "ndjson: line 4: ingestion_date: 2026-01-21 is not the import's partition 2026-01-22"},
		{name: "ingestion_date not a date", input: `{"message_id": "m", "conversation_id": "c", "ingestion_date": "22/01/2026"}`,
			want: `ndjson: line 1: ingestion_date: want a date YYYY-MM-DD, got "22/01/2026"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := ingest.NewNDJSON(strings.NewReader(tc.input), "s", testDay)
			got, err := readAll(t, r)
			checkErr(t, err, tc.want, tc.prefix)
			if len(got) != tc.good {
				t.Errorf("read %d conversations before the error, want %d", len(got), tc.good)
			}
			if _, again := r.Next(); again == nil || again.Error() != err.Error() {
				t.Errorf("Next after the error = %v, want the same error again", again)
			}
		})
	}
}
