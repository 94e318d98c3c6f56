package synth_test

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/civil"
	"github.com/google/go-cmp/cmp"

	"github.com/turnstile-dev/turnstile/internal/identity"
	"github.com/turnstile-dev/turnstile/internal/ingest"
	"github.com/turnstile-dev/turnstile/internal/synth"
)

var day = civil.Date{Year: 2026, Month: time.January, Day: 22}

// readAll returns deep copies of everything r yields (r reuses its values).
func readAll(tb testing.TB, r ingest.Reader) []ingest.Conversation {
	tb.Helper()
	var out []ingest.Conversation
	for {
		c, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatalf("Next: %v", err)
		}
		cp := *c
		cp.Metadata = slices.Clone(c.Metadata)
		cp.Messages = slices.Clone(c.Messages)
		for i := range cp.Messages {
			cp.Messages[i].Metadata = slices.Clone(c.Messages[i].Metadata)
		}
		out = append(out, cp)
	}
}

func TestDeterminism(t *testing.T) {
	t.Parallel()
	opts := synth.Options{Seed: 42, Conversations: 200, Source: "synth", Day: day}
	a := readAll(t, synth.New(opts))
	b := readAll(t, synth.New(opts))
	if len(a) != opts.Conversations {
		t.Fatalf("got %d conversations, want %d", len(a), opts.Conversations)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same options, different output (-first +second):\n%s", diff)
	}

	// Asking for fewer conversations gives a prefix of the same output.
	fewer := opts
	fewer.Conversations = 50
	if diff := cmp.Diff(a[:50], readAll(t, synth.New(fewer))); diff != "" {
		t.Errorf("50 conversations are not the first 50 of 200 (-want +got):\n%s", diff)
	}

	other := opts
	other.Seed = 43
	c := readAll(t, synth.New(other))
	same := 0
	for i := range a {
		if cmp.Equal(a[i].Messages, c[i].Messages) {
			same++
		}
	}
	if same > 0 {
		t.Errorf("seeds 42 and 43 gave %d identical conversations out of %d", same, len(a))
	}
}

func TestShape(t *testing.T) {
	t.Parallel()
	const n = 3000
	const source = "synth"
	convs := readAll(t, synth.New(synth.Options{Seed: 7, Conversations: n, Source: source, Day: day}))
	if len(convs) != n {
		t.Fatalf("got %d conversations, want %d", len(convs), n)
	}
	start, end := day.In(time.UTC), day.AddDays(1).In(time.UTC)
	roles := map[string]int{}
	var (
		messages, systemFirst, assistantFirst, endsOnUser, toolCalls, toolResults int
		nullRoles, repeatedIDs, nullTimes, nonASCII, emptyContent, titled         int
	)
	for i, c := range convs {
		wantID := identity.MustID("L8", source, strconv.Itoa(i))
		if c.ConversationID != wantID || c.Source != source {
			t.Fatalf("conversation %d: id %s source %q, want %s %q", i, c.ConversationID, c.Source, wantID, source)
		}
		if want := `{"native_id":"` + strconv.Itoa(i) + `"}`; string(c.Metadata) != want {
			t.Errorf("conversation %d: metadata %s, want %s", i, c.Metadata, want)
		}
		if c.Title != "" {
			titled++
		}
		if len(c.Messages) < 1 || len(c.Messages) > synth.MaxMessages {
			t.Errorf("conversation %d has %d messages, want 1..%d", i, len(c.Messages), synth.MaxMessages)
			continue
		}
		messages += len(c.Messages)
		first := c.Messages[0].Role
		if strings.EqualFold(strings.TrimSpace(first), "system") || first == "developer" {
			systemFirst++
		}
		if first == "assistant" || first == "gpt" {
			assistantFirst++
		}
		last := strings.ToLower(strings.TrimSpace(c.Messages[len(c.Messages)-1].Role))
		if last == "user" || last == "human" || last == "customer" {
			endsOnUser++
		}
		var prev time.Time
		for j, m := range c.Messages {
			roles[m.Role]++
			if m.ConversationID != c.ConversationID || m.Seq != int64(j) || !m.HasSeq {
				t.Fatalf("conversation %d message %d: conversation %s seq %d", i, j, m.ConversationID, m.Seq)
			}
			switch wantID := identity.MustID("L5", c.ConversationID, strconv.Itoa(j)); {
			case m.MessageID == wantID:
			case j > 0 && m.MessageID == c.Messages[j-1].MessageID:
				repeatedIDs++
			default:
				t.Fatalf("conversation %d message %d: id %s, want %s or the previous id", i, j, m.MessageID, wantID)
			}
			if !m.HasRole {
				nullRoles++
			}
			if m.Metadata != nil && !json.Valid(m.Metadata) {
				t.Errorf("conversation %d message %d: invalid metadata %s", i, j, m.Metadata)
			}
			var meta struct {
				ToolCalls  []json.RawMessage `json:"tool_calls"`
				ToolCallID string            `json:"tool_call_id"`
			}
			if m.Metadata != nil {
				_ = json.Unmarshal(m.Metadata, &meta)
			}
			if len(meta.ToolCalls) > 0 {
				toolCalls++
				if m.HasContent {
					t.Errorf("conversation %d message %d: a tool call with content %q", i, j, m.Content)
				}
			} else if !m.HasContent {
				t.Errorf("conversation %d message %d: NULL content outside a tool call", i, j)
			}
			if meta.ToolCallID != "" {
				toolResults++
				if !json.Valid([]byte(m.Content)) {
					t.Errorf("conversation %d message %d: tool result %q is not JSON", i, j, m.Content)
				}
			}
			if m.HasContent && m.Content == "" {
				emptyContent++
			}
			if !utf8.ValidString(m.Content) {
				t.Errorf("conversation %d message %d: content is not UTF-8", i, j)
			}
			if utf8.RuneCountInString(m.Content) != len(m.Content) {
				nonASCII++
			}
			if m.CreatedAt.IsZero() {
				nullTimes++
				continue
			}
			if m.CreatedAt.Before(start) || !m.CreatedAt.Before(end) {
				t.Errorf("conversation %d message %d: created_at %s is not on %s", i, j, m.CreatedAt, day)
			}
			if m.CreatedAt.Before(prev) {
				t.Errorf("conversation %d message %d: created_at %s before the previous %s", i, j, m.CreatedAt, prev)
			}
			prev = m.CreatedAt
		}
	}

	mean := float64(messages) / n
	if math.Abs(mean-synth.MeanMessages) > 1.5 {
		t.Errorf("mean messages per conversation %.2f, want about %.2f", mean, synth.MeanMessages)
	}
	if est := synth.EstimateMessages(n); math.Abs(float64(est-int64(messages))) > 0.06*float64(messages) {
		t.Errorf("EstimateMessages(%d) = %d, generated %d", n, est, messages)
	}
	for _, role := range []string{"user", "assistant", "human", "gpt", "system", "tool", "observation"} {
		if roles[role] == 0 {
			t.Errorf("no message with role %q", role)
		}
	}
	// Each feature is there, and rare: counts are between bounds well
	// around the generator's rates.
	checks := []struct {
		name     string
		got      int
		min, max int
	}{
		{"conversations starting with a system prompt", systemFirst, n / 5, n * 2 / 5},
		{"assistant-first conversations", assistantFirst, n / 50, n / 10},
		{"conversations ending on a user message", endsOnUser, n / 20, n / 2},
		{"conversations with a title", titled, n / 5, n * 2 / 5},
		{"tool calls", toolCalls, messages / 40, messages / 5},
		{"tool results", toolResults, messages / 40, messages / 5},
		{"NULL roles", nullRoles, 1, messages / 100},
		{"unknown roles", roles["narrator"] + roles["moderator"] + roles[""] + roles["unknown"] + roles["user_proxy"] - nullRoles, 1, messages / 50},
		{"repeated message ids", repeatedIDs, 1, messages / 100},
		{"NULL created_at", nullTimes, messages / 100, messages / 25},
		{"empty contents", emptyContent, 1, messages / 20},
		{"non-ASCII contents", nonASCII, messages / 10, messages},
	}
	for _, c := range checks {
		if c.got < c.min || c.got > c.max {
			t.Errorf("%s: %d, want between %d and %d (of %d conversations, %d messages)", c.name, c.got, c.min, c.max, n, messages)
		}
	}
}

func TestSourceError(t *testing.T) {
	t.Parallel()
	r := synth.New(synth.Options{Conversations: 1, Source: "bad\x1fsource", Day: day})
	if _, err := r.Next(); !errors.Is(err, identity.ErrSeparator) {
		t.Errorf("Next with a source containing U+001F: %v, want %v", err, identity.ErrSeparator)
	}
}

func TestConversationsFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		messages int64
		want     int
	}{
		{0, 1},
		{1, 1},
		{int64(math.Round(1000 * synth.MeanMessages)), 1000},
	}
	for _, tc := range tests {
		if got := synth.ConversationsFor(tc.messages); got != tc.want {
			t.Errorf("ConversationsFor(%d) = %d, want %d", tc.messages, got, tc.want)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	const n = 10_000
	b.ReportAllocs()
	var msgs int64
	for b.Loop() {
		r := synth.New(synth.Options{Seed: 1, Conversations: n, Source: "synth", Day: day})
		for {
			c, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			msgs += int64(len(c.Messages))
		}
	}
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(msgs), "ns/msg")
}
