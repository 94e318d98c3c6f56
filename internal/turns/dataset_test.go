package turns

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/turnstile-dev/turnstile/internal/identity"
)

const datasets = "../../../shared/datasets/"

// conversation is one conversation of a dataset.
type conversation struct {
	id   string
	msgs []Message
}

// datasetConversations reads a chat file of the shared datasets the way the
// import does (SPEC §8): sharegpt arrays or openai JSON Lines, message seq
// its index, ids from SPEC §3, no times. It skips tb when the file is absent.
func datasetConversations(tb testing.TB, file string) []conversation {
	tb.Helper()
	data, err := os.ReadFile(datasets + file)
	if errors.Is(err, os.ErrNotExist) {
		tb.Skipf("dataset %s not found: skipping the real-data checks", datasets+file)
	}
	if err != nil {
		tb.Fatalf("read dataset: %v", err)
	}
	build := func(source, native string, roles, contents []string) conversation {
		convID := identity.MustID("L8", source, native)
		msgs := make([]Message, len(roles))
		for i := range roles {
			msgs[i] = Message{
				MessageID:      identity.MustID("L5", convID, strconv.Itoa(i)),
				ConversationID: convID,
				Seq:            int64(i),
				HasSeq:         true,
				Role:           roles[i],
				Content:        contents[i],
			}
		}
		return conversation{id: convID, msgs: msgs}
	}
	var convs []conversation
	switch {
	case strings.HasPrefix(file, "sharegpt/"):
		var rows []struct {
			ID            *string `json:"id"`
			Conversations []struct {
				From  string `json:"from"`
				Value string `json:"value"`
			} `json:"conversations"`
		}
		if err := json.Unmarshal(data, &rows); err != nil {
			tb.Fatalf("decode %s: %v", file, err)
		}
		for i, r := range rows {
			native := strconv.Itoa(i)
			if r.ID != nil {
				native = *r.ID
			}
			var roles, contents []string
			for _, m := range r.Conversations {
				roles = append(roles, m.From)
				contents = append(contents, m.Value)
			}
			convs = append(convs, build("sharegpt", native, roles, contents))
		}
	case strings.HasPrefix(file, "openai/"):
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		sc.Buffer(nil, 16<<20)
		for line := 0; sc.Scan(); line++ {
			var r struct {
				ID       *string `json:"id"`
				Messages []struct {
					Role    string          `json:"role"`
					Content json.RawMessage `json:"content"`
				} `json:"messages"`
			}
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				tb.Fatalf("decode %s line %d: %v", file, line+1, err)
			}
			native := strconv.Itoa(line)
			if r.ID != nil {
				native = *r.ID
			}
			var roles, contents []string
			for _, m := range r.Messages {
				roles = append(roles, m.Role)
				contents = append(contents, openaiContent(tb, m.Content))
			}
			convs = append(convs, build("openai", native, roles, contents))
		}
		if err := sc.Err(); err != nil {
			tb.Fatalf("read %s: %v", file, err)
		}
	default:
		tb.Fatalf("unknown dataset format of %s", file)
	}
	return convs
}

// openaiContent decodes an openai message content: a string, null, or a
// list of parts whose text parts are joined with "\n".
func openaiContent(tb testing.TB, raw json.RawMessage) string {
	tb.Helper()
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		tb.Fatalf("content %s: %v", raw, err)
	}
	var texts []string
	for _, p := range parts {
		if p.Type == "text" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n")
}

var datasetFiles = []string{
	"sharegpt/fastchat_dummy.json",
	"sharegpt/glaive_toolcall_en.json",
	"sharegpt/glaive_toolcall_zh.json",
	"openai/taubench_airline.jsonl",
}

func TestPairDatasets(t *testing.T) {
	t.Parallel()
	for _, file := range datasetFiles {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			var p Pairer
			var total Stats
			for _, c := range datasetConversations(t, file) {
				got, st := pairAll(t, &p, c.id, c.msgs)
				checkTurns(t, c.msgs, got, st)
				total.Add(st)
			}
			// Every role these exports use is in the table of SPEC §4.1,
			// and their message ids are distinct.
			if total.UnknownRole != 0 || total.Duplicates != 0 {
				t.Errorf("%s: %d unknown roles and %d duplicates, want none", file, total.UnknownRole, total.Duplicates)
			}
			if total.Turns == 0 || total.CompleteTurns == 0 || total.WithTurns != total.Conversations {
				t.Errorf("%s: stats %+v, want turns in every conversation", file, total)
			}
			t.Logf("%s: %+v", file, total)
		})
	}
}

func BenchmarkPairDatasets(b *testing.B) {
	var convs []conversation
	for _, file := range datasetFiles {
		convs = append(convs, datasetConversations(b, file)...)
	}
	var p Pairer
	var msgs int64
	emit := func(*Turn) error { return nil }
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c := convs[i%len(convs)]
		i++
		if _, err := p.Pair(c.id, c.msgs, emit); err != nil {
			b.Fatal(err)
		}
		msgs += int64(len(c.msgs))
	}
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
}
