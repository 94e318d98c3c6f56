package ingest_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnstile-dev/turnstile/internal/ingest"
)

func TestShareGPT(t *testing.T) {
	t.Parallel()
	const src = "sharegpt"
	input := "\ufeff" + `[
  {"id": "abc", "conversations": [
     {"from": "human", "value": "Hi <there> & you"},
     {"from": "gpt", "value": "Hello!\nHow can I help?", "weight": 1}
  ]},
  {"id": 17, "system": "be brief",
   "tools": [ {"name": "lookup"} ],
   "conversations": [
     {"from": "function_call", "value": null},
     {"value": "orphan", "from": null},
     {"from": "  Narrator ", "value": ""},
     {"from": "human"}
  ]},
  {"conversations": []},
  {"id": null, "conversations": [{"from": "gpt", "value": "日本語 ✓ \u00e9"}]},
  {"id": 1.50e2, "conversations": [{"from": "human", "value": "x"}, {"from": "human", "value": "x"}]}
]
`
	c0, c1, c2, c3, c4 := convID(src, "abc"), convID(src, "17"), convID(src, "2"), convID(src, "3"), convID(src, "1.50e2")
	want := []ingest.Conversation{
		{ConversationID: c0, Source: src, Metadata: rawJSON(`{"native_id":"abc"}`), Messages: []ingest.MessageRow{
			msg(c0, 0, ptr("human"), ptr("Hi <there> & you"), ""),
			msg(c0, 1, ptr("gpt"), ptr("Hello!\nHow can I help?"), `{"weight":1}`),
		}},
		{ConversationID: c1, Source: src, Metadata: rawJSON(`{"native_id":"17","system":"be brief","tools":[{"name":"lookup"}]}`), Messages: []ingest.MessageRow{
			msg(c1, 0, ptr("function_call"), nil, ""),
			msg(c1, 1, nil, ptr("orphan"), ""),
			msg(c1, 2, ptr("  Narrator "), ptr(""), ""),
			msg(c1, 3, ptr("human"), nil, ""),
		}},
		{ConversationID: c2, Source: src, Metadata: rawJSON(`{"native_id":"2"}`), Messages: []ingest.MessageRow{}},
		{ConversationID: c3, Source: src, Metadata: rawJSON(`{"native_id":"3"}`), Messages: []ingest.MessageRow{
			msg(c3, 0, ptr("gpt"), ptr("日本語 ✓ é"), ""),
		}},
		{ConversationID: c4, Source: src, Metadata: rawJSON(`{"native_id":"1.50e2"}`), Messages: []ingest.MessageRow{
			msg(c4, 0, ptr("human"), ptr("x"), ""),
			msg(c4, 1, ptr("human"), ptr("x"), ""),
		}},
	}
	got, err := readAll(t, ingest.NewShareGPT(strings.NewReader(input), src))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("conversations (-want +got):\n%s", diff)
	}
}

func TestShareGPTEmptyArray(t *testing.T) {
	t.Parallel()
	got, err := readAll(t, ingest.NewShareGPT(strings.NewReader(" [ ] \n"), "s"))
	if err != nil || len(got) != 0 {
		t.Errorf("read [] = %d conversations, %v; want none, no error", len(got), err)
	}
}

func TestShareGPTErrors(t *testing.T) {
	t.Parallel()
	good := `{"id": "a", "conversations": [{"from": "human", "value": "hi"}]}`
	tests := []struct {
		name  string
		input string
		good  int    // conversations read before the error
		want  string // the error message, or its start when prefix is set
		// prefix marks messages that end with encoding/json's own wording.
		prefix bool
	}{
		{name: "empty input", input: "", want: "sharegpt: empty input, want a JSON array"},
		{name: "not an array", input: `{"id": 1}`, want: `sharegpt: byte 0: want a JSON array, got "{"`},
		{name: "top-level string", input: `"x"`, want: `sharegpt: byte 0: want a JSON array, got string`},
		{name: "element not an object", input: "[" + good + ", 42]", good: 1,
			want: "sharegpt: element 1 (byte 67): want object, got number"},
		{name: "element null", input: "[null]", want: "sharegpt: element 0 (byte 1): want object, got null"},
		{name: "conversations missing", input: `[{"id": "a"}]`, want: "sharegpt: element 0 (byte 1): conversations: missing"},
		{name: "conversations not an array", input: `[{"id": "a", "conversations": {"from": "human"}}]`,
			want: "sharegpt: element 0 (byte 1): conversations: want array, got object"},
		{name: "conversations null", input: `[{"conversations": null}]`,
			want: "sharegpt: element 0 (byte 1): conversations: want array, got null"},
		{name: "message not an object", input: `[{"conversations": [{"from": "human", "value": "a"}, "hello"]}]`,
			want: "sharegpt: element 0 (byte 1): conversations[1]: want object, got string"},
		{name: "value is a number", input: "[" + good + `,` + "\n" + ` {"conversations": [{"from": "gpt", "value": 3}]}]`, good: 1,
			want: "sharegpt: element 1 (byte 68): conversations[0]: value: want string or null, got number"},
		{name: "from is an object", input: `[{"conversations": [{"from": {"name": "x"}, "value": "a"}]}]`,
			want: "sharegpt: element 0 (byte 1): conversations[0]: from: want string or null, got object"},
		{name: "id is a boolean", input: `[{"id": true, "conversations": []}]`,
			want: "sharegpt: element 0 (byte 1): id: want string, number or null, got boolean"},
		{name: "reserved native_id", input: `[{"native_id": "x", "conversations": []}]`,
			want: `sharegpt: element 0 (byte 1): field "native_id" is reserved for the import's metadata`},
		{name: "malformed element", input: "[" + good + `, {"id": "b", "conversations": [}]`, good: 1,
			want: "sharegpt: element 1 (byte 96): malformed JSON: ", prefix: true},
		{name: "truncated", input: "[" + good + `, {"id": "b", "conv`, good: 1,
			want: "sharegpt: element 1 (byte 66): input ends inside the array: ", prefix: true},
		{name: "unclosed array", input: "[" + good, good: 1,
			want: "sharegpt: after element 0 (byte 65): input ends inside the array: ", prefix: true},
		{name: "trailing garbage", input: "[" + good + "] xyz", good: 1,
			want: "sharegpt: after the array (byte 65): malformed JSON: ", prefix: true},
		{name: "second value", input: "[" + good + "]\n[]", good: 1,
			want: `sharegpt: unexpected "[" after the array, which ends at byte 66`},
		{name: "unclosed empty array", input: "[ ",
			want: "sharegpt: after the opening bracket (byte 1): input ends inside the array", prefix: true},
		{name: "missing comma", input: "[" + good + " " + good + "]", good: 1,
			want: "sharegpt: element 1 (byte 66): malformed JSON: ", prefix: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := ingest.NewShareGPT(strings.NewReader(tc.input), "s")
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

func checkErr(tb testing.TB, err error, want string, prefix bool) {
	tb.Helper()
	switch {
	case err == nil:
		tb.Fatalf("got no error, want %q", want)
	case prefix && !strings.HasPrefix(err.Error(), want):
		tb.Errorf("error = %q, want it to start with %q", err, want)
	case !prefix && err.Error() != want:
		tb.Errorf("error = %q, want %q", err, want)
	}
}
