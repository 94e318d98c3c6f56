package ingest_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnstile-dev/turnstile/internal/ingest"
)

func TestOpenAI(t *testing.T) {
	t.Parallel()
	const src = "openai"
	input := strings.Join([]string{
		`{"id": "t-1", "model": "gpt-4o", "messages": [` +
			`{"role": "system", "content": "policy"},` +
			`{"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "http://x/a.png"}}, {"text": "at this"}]},` +
			`{"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},` +
			`{"role": "tool", "content": "", "tool_call_id": "c1", "name": "f"},` +
			`{"role": "assistant", "content": []},` +
			`{"content": "no role"}]}`,
		``,
		"   \t",
		`{"messages": [{"role": "user", "content": "first without id"}]}` + "\r",
		`{"id": 7, "messages": []}`,
		`{"messages": [{"role": null, "content": "x"}, {"role": "WEIRD"}]}`,
	}, "\n") // no final newline: the last line still counts
	c0, c1, c2, c3 := convID(src, "t-1"), convID(src, "1"), convID(src, "7"), convID(src, "3")
	want := []ingest.Conversation{
		{ConversationID: c0, Source: src, Metadata: rawJSON(`{"native_id":"t-1","model":"gpt-4o"}`), Messages: []ingest.MessageRow{
			msg(c0, 0, ptr("system"), ptr("policy"), ""),
			msg(c0, 1, ptr("user"), ptr("look\nat this"), `{"content_parts":[{"image_url":{"url":"http://x/a.png"},"type":"image_url"}]}`),
			msg(c0, 2, ptr("assistant"), nil, `{"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}`),
			msg(c0, 3, ptr("tool"), ptr(""), `{"name":"f","tool_call_id":"c1"}`),
			msg(c0, 4, ptr("assistant"), ptr(""), ""),
			msg(c0, 5, nil, ptr("no role"), ""),
		}},
		{ConversationID: c1, Source: src, Metadata: rawJSON(`{"native_id":"1"}`), Messages: []ingest.MessageRow{
			msg(c1, 0, ptr("user"), ptr("first without id"), ""),
		}},
		{ConversationID: c2, Source: src, Metadata: rawJSON(`{"native_id":"7"}`), Messages: []ingest.MessageRow{}},
		{ConversationID: c3, Source: src, Metadata: rawJSON(`{"native_id":"3"}`), Messages: []ingest.MessageRow{
			msg(c3, 0, nil, ptr("x"), ""),
			msg(c3, 1, ptr("WEIRD"), nil, ""),
		}},
	}
	got, err := readAll(t, ingest.NewOpenAI(strings.NewReader(input), src))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("conversations (-want +got):\n%s", diff)
	}
}

func TestOpenAIErrors(t *testing.T) {
	t.Parallel()
	good := `{"messages": [{"role": "user", "content": "hi"}]}`
	tests := []struct {
		name   string
		input  string
		good   int
		want   string
		prefix bool
	}{
		{name: "malformed line", input: good + "\n\n" + `{"messages": [}`, good: 1,
			want: "openai: line 3: malformed JSON: ", prefix: true},
		{name: "two values on a line", input: good + " " + good,
			want: "openai: line 1: malformed JSON: ", prefix: true},
		{name: "line is an array", input: `[1, 2]`, want: "openai: line 1: want a JSON object, got array"},
		{name: "line is not JSON", input: good + "\nhello", good: 1, want: "openai: line 2: malformed JSON: ", prefix: true},
		{name: "messages missing", input: `{"id": 1}`, want: "openai: line 1: messages: missing"},
		{name: "messages not an array", input: `{"messages": "hi"}`, want: "openai: line 1: messages: want array, got string"},
		{name: "message not an object", input: `{"messages": [{"role": "user"}, ["user", "hi"]]}`,
			want: "openai: line 1: messages[1]: want object, got array"},
		{name: "content is a number", input: strings.Repeat(good+"\n", 11) +
			`{"messages": [{"role": "user"}, {}, {}, {"role": "user", "content": 5}]}`, good: 11,
			want: "openai: line 12: messages[3]: content: want string, null or list of parts, got number"},
		{name: "content is an object", input: `{"messages": [{"role": "user", "content": {"text": "x"}}]}`,
			want: "openai: line 1: messages[0]: content: want string, null or list of parts, got object"},
		{name: "part not an object", input: `{"messages": [{"role": "user", "content": ["x"]}]}`,
			want: "openai: line 1: messages[0]: content: [0]: want object, got string"},
		{name: "text part without text", input: `{"messages": [{"role": "user", "content": [{"type": "text"}]}]}`,
			want: "openai: line 1: messages[0]: content: [0]: text: missing"},
		{name: "text is null", input: `{"messages": [{"role": "user", "content": [{"type": "text", "text": null}]}]}`,
			want: "openai: line 1: messages[0]: content: [0]: text: want string, got null"},
		{name: "part type not a string", input: `{"messages": [{"content": [{"type": 1, "text": "a"}]}]}`,
			want: "openai: line 1: messages[0]: content: [0]: type: want string or null, got number"},
		{name: "role is a number", input: `{"messages": [{"role": 1, "content": "a"}]}`,
			want: "openai: line 1: messages[0]: role: want string or null, got number"},
		{name: "id is an object", input: `{"id": {}, "messages": []}`,
			want: "openai: line 1: id: want string, number or null, got object"},
		{name: "reserved native_id", input: `{"native_id": 1, "messages": []}`,
			want: `openai: line 1: field "native_id" is reserved for the import's metadata`},
		{name: "reserved content_parts", input: `{"messages": [{"content": [{"type": "image"}], "content_parts": 1}]}`,
			want: `openai: line 1: messages[0]: field "content_parts" is reserved for the import's metadata`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := ingest.NewOpenAI(strings.NewReader(tc.input), "s")
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

func TestOpenAILongLine(t *testing.T) {
	t.Parallel()
	// Longer than bufio's and bufio.Scanner's default buffers.
	long := strings.Repeat("abcdefgh", 200_000)
	input := `{"messages": [{"role": "user", "content": "` + long + `"}]}` + "\n" + `{"messages": []}` + "\n"
	got, err := readAll(t, ingest.NewOpenAI(strings.NewReader(input), "s"))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if len(got) != 2 || len(got[0].Messages) != 1 || got[0].Messages[0].Content != long {
		t.Errorf("read %d conversations; want 2, the first with the %d-byte content", len(got), len(long))
	}
}
