package ingest_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/turnstile-dev/turnstile/internal/ingest"
)

func TestNewReader(t *testing.T) {
	t.Parallel()
	inputs := map[string]string{
		"sharegpt": `[{"id": "a", "conversations": [{"from": "human", "value": "hi"}]}]`,
		"openai":   `{"id": "a", "messages": [{"role": "user", "content": "hi"}]}`,
		"ndjson":   `{"message_id": "m", "conversation_id": "` + convID("src", "a") + `", "seq": 0, "role": "user", "content": "hi"}`,
	}
	for _, format := range ingest.Formats {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			input, ok := inputs[format]
			if !ok {
				t.Fatalf("no test input for format %q", format)
			}
			r, err := ingest.NewReader(format, strings.NewReader(input), "src", testDay)
			if err != nil {
				t.Fatalf("NewReader: %v", err)
			}
			got, err := readAll(t, r)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if len(got) != 1 || got[0].ConversationID != convID("src", "a") || len(got[0].Messages) != 1 || got[0].Messages[0].Content != "hi" {
				t.Errorf("read %+v; want one conversation %s with the message \"hi\"", got, convID("src", "a"))
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		t.Parallel()
		_, err := ingest.NewReader("csv", strings.NewReader(""), "src", testDay)
		checkErr(t, err, `unknown input format "csv" (want one of sharegpt, openai, ndjson)`, false)
	})
}

// sliceReader yields conversations with the given message counts.
type sliceReader struct {
	sizes []int
	err   error // returned instead of io.EOF when set
	conv  ingest.Conversation
}

func (s *sliceReader) Next() (*ingest.Conversation, error) {
	if len(s.sizes) == 0 {
		if s.err != nil {
			return nil, s.err
		}
		return nil, io.EOF
	}
	s.conv.Messages = make([]ingest.MessageRow, s.sizes[0])
	s.sizes = s.sizes[1:]
	return &s.conv, nil
}

func TestCountingReader(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name  string
		sizes []int
		every int64
		err   error
		want  []ingest.Progress
		final ingest.Progress
	}{
		{name: "every 2", sizes: []int{1, 2, 3, 4, 5}, every: 2,
			want: []ingest.Progress{
				{Conversations: 2, Messages: 3},
				{Conversations: 4, Messages: 10},
				{Conversations: 5, Messages: 15, Done: true},
			},
			final: ingest.Progress{Conversations: 5, Messages: 15, Done: true}},
		{name: "only at the end", sizes: []int{3, 0}, every: 0,
			want:  []ingest.Progress{{Conversations: 2, Messages: 3, Done: true}},
			final: ingest.Progress{Conversations: 2, Messages: 3, Done: true}},
		{name: "empty input", every: 1,
			want:  []ingest.Progress{{Done: true}},
			final: ingest.Progress{Done: true}},
		{name: "error is not the end", sizes: []int{1, 1, 1}, every: 2, err: boom,
			want:  []ingest.Progress{{Conversations: 2, Messages: 2}},
			final: ingest.Progress{Conversations: 3, Messages: 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []ingest.Progress
			c := ingest.NewCountingReader(&sliceReader{sizes: tc.sizes, err: tc.err}, tc.every, func(p ingest.Progress) {
				got = append(got, p)
			})
			_, err := readAll(t, c)
			if !errors.Is(err, tc.err) {
				t.Errorf("read: %v, want %v", err, tc.err)
			}
			// A second Next at the end must not report again.
			_, _ = c.Next()
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("progress reports (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.final, c.Progress()); diff != "" {
				t.Errorf("Progress() (-want +got):\n%s", diff)
			}
		})
	}
}

const datasets = "../../../shared/datasets"

// TestDatasets reads the shared real-world files and checks the counts that
// the datasets README states, and that ids follow SPEC §3.
func TestDatasets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file          string
		format        string
		conversations int
		messages      int
	}{
		{"sharegpt/fastchat_dummy.json", "sharegpt", 500, 2000},
		{"sharegpt/glaive_toolcall_en.json", "sharegpt", 300, 1914},
		{"sharegpt/glaive_toolcall_zh.json", "sharegpt", 300, 1880},
		{"openai/taubench_airline.jsonl", "openai", 200, 5308},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			f, err := os.Open(filepath.Join(datasets, tc.file))
			if errors.Is(err, os.ErrNotExist) {
				t.Skipf("%s not found in %s: skipping the real-data check", tc.file, datasets)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := ingest.NewReader(tc.format, f, tc.format, testDay)
			if err != nil {
				t.Fatal(err)
			}
			convs, msgs := 0, 0
			seen := map[string]bool{}
			for {
				c, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				if seen[c.ConversationID] {
					t.Errorf("conversation %s appears twice", c.ConversationID)
				}
				seen[c.ConversationID] = true
				for i, m := range c.Messages {
					if m.MessageID != msgID(c.ConversationID, i) || m.Seq != int64(i) || !m.HasSeq {
						t.Fatalf("conversation %d message %d: id %s seq %d, want %s and %d", convs, i, m.MessageID, m.Seq, msgID(c.ConversationID, i), i)
					}
					if !m.HasRole || m.Role == "" {
						t.Errorf("conversation %d message %d: no role", convs, i)
					}
				}
				convs++
				msgs += len(c.Messages)
			}
			if convs != tc.conversations || msgs != tc.messages {
				t.Errorf("read %d conversations and %d messages, want %d and %d", convs, msgs, tc.conversations, tc.messages)
			}
		})
	}
}

// TestStreams checks that each format hands out a conversation before the
// rest of the input exists: the writer waits for the reader after writing
// the start of the input, so a parser that reads the whole input first
// would never return.
func TestStreams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		format string
		head   string // enough for the first conversation
		tail   string // the rest, written once the first came out
		convs  int
	}{
		{"sharegpt", `[{"id": "a", "conversations": [{"from": "human", "value": "hi"}]}`, `, {"id": "b", "conversations": []}]`, 2},
		{"openai", `{"id": "a", "messages": [{"role": "user", "content": "hi"}]}` + "\n", `{"id": "b", "messages": []}` + "\n", 2},
		// An ndjson conversation ends at the first row of the next one.
		{"ndjson", `{"message_id": "m", "conversation_id": "a"}` + "\n" + `{"message_id": "m", "conversation_id": "b"}` + "\n", `{"message_id": "n", "conversation_id": "b"}` + "\n", 2},
	}
	for _, tc := range tests {
		t.Run(tc.format, func(t *testing.T) {
			t.Parallel()
			pr, pw := io.Pipe()
			release := make(chan struct{})
			go func() {
				_, _ = io.WriteString(pw, tc.head)
				<-release
				_, _ = io.WriteString(pw, tc.tail)
				_ = pw.Close()
			}()
			r, err := ingest.NewReader(tc.format, pr, "s", testDay)
			if err != nil {
				t.Fatal(err)
			}
			first := make(chan error, 1)
			go func() {
				_, err := r.Next()
				first <- err
			}()
			select {
			case err := <-first:
				if err != nil {
					t.Fatalf("first Next: %v", err)
				}
			case <-time.After(10 * time.Second):
				close(release)
				t.Fatal("the first conversation did not come out before the rest of the input was written")
			}
			close(release)
			rest, err := readAll(t, r)
			if err != nil || 1+len(rest) != tc.convs {
				t.Errorf("read %d conversations, %v; want %d, no error", 1+len(rest), err, tc.convs)
			}
		})
	}
}

// TestLargeInputMemory streams a generated sharegpt array of about 30 MB
// through a pipe and checks that the heap stays far below the input's size.
func TestLargeInputMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("large input: skipped in -short mode")
	}
	const conversations = 12_000 // about 2.5 KB each
	pr, pw := io.Pipe()
	go func() {
		_ = writeShareGPT(pw, conversations)
		_ = pw.Close()
	}()
	r := ingest.NewShareGPT(pr, "s")
	var peak uint64
	var ms runtime.MemStats
	n := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		n++
		if n%5000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	t.Logf("peak heap in use %.1f MB", float64(peak)/(1<<20))
	if n != conversations {
		t.Errorf("read %d conversations, want %d", n, conversations)
	}
	if limit := uint64(16 << 20); peak > limit {
		t.Errorf("heap in use reached %d MB reading about %d MB of input, want under %d MB", peak>>20, conversations*2500>>20, limit>>20)
	}
}

// writeShareGPT writes a sharegpt array of n conversations of 8 messages.
func writeShareGPT(w io.Writer, n int) error {
	line := strings.Repeat("lorem ipsum dolor sit amet ", 10)
	if _, err := io.WriteString(w, "["); err != nil {
		return err
	}
	for i := range n {
		sep := ","
		if i == 0 {
			sep = ""
		}
		var b strings.Builder
		fmt.Fprintf(&b, `%s{"id": "c%d", "conversations": [`, sep, i)
		for j := range 8 {
			role := "human"
			if j%2 == 1 {
				role = "gpt"
			}
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"from": %q, "value": "%s %d"}`, role, line, j)
		}
		b.WriteString("]}\n")
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "]")
	return err
}

// writeOpenAI writes n lines of 8 messages each, with a tool call.
func writeOpenAI(w io.Writer, n int) error {
	line := strings.Repeat("lorem ipsum dolor sit amet ", 10)
	for i := range n {
		var b strings.Builder
		fmt.Fprintf(&b, `{"id": "c%d", "messages": [{"role": "system", "content": "%s"}`, i, line)
		b.WriteString(`, {"role": "user", "content": "` + line + `"}`)
		b.WriteString(`, {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}]}`)
		b.WriteString(`, {"role": "tool", "content": "{\"ok\": true}", "tool_call_id": "c1", "name": "f"}`)
		for j := range 4 {
			role := "user"
			if j%2 == 1 {
				role = "assistant"
			}
			fmt.Fprintf(&b, `, {"role": %q, "content": [{"type": "text", "text": "%s"}]}`, role, line)
		}
		b.WriteString("]}\n")
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
	}
	return nil
}
