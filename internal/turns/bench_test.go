package turns

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-dev/turnstile/internal/identity"
)

// benchConversations builds n conversations shaped like real chat exports:
// 2 to 40 messages, an occasional system prompt, user and assistant turns
// with tool calls now and then, contents of a few hundred bytes (some not
// ASCII), known times, canonical ids, sorted as the warehouse delivers them.
func benchConversations(n int) [][]Message {
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("the a turn message model answer question data pipeline partition warehouse table query latency réponse 回答 ✓ user tool call result")
	text := func() string {
		var b strings.Builder
		size := 100 + rng.IntN(500)
		for b.Len() < size {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(' ')
		}
		return b.String()
	}
	convs := make([][]Message, n)
	for c := range convs {
		convID := identity.MustID("L8", "bench", strconv.Itoa(c))
		size := 2 + rng.IntN(39)
		when := time.Date(2026, 1, 22, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(86400)) * time.Second)
		msgs := make([]Message, 0, size)
		for i := 0; i < size; i++ {
			var role string
			switch {
			case i == 0 && rng.IntN(5) == 0:
				role = "system"
			case i > 0 && msgs[i-1].Role == "user":
				role = "assistant"
			case i > 0 && msgs[i-1].Role == "assistant" && rng.IntN(6) == 0:
				role = "tool"
			case i > 0 && msgs[i-1].Role == "tool":
				role = "assistant"
			default:
				role = "user"
			}
			content := text()
			if role == "assistant" && rng.IntN(10) == 0 {
				content = "" // a tool call without text
			}
			when = when.Add(time.Duration(500+rng.IntN(20000)) * time.Millisecond)
			msgs = append(msgs, Message{
				MessageID:      identity.MustID("L5", convID, strconv.Itoa(i)),
				ConversationID: convID,
				Seq:            int64(i),
				HasSeq:         true,
				Role:           role,
				Content:        content,
				CreatedAt:      when,
			})
		}
		convs[c] = msgs
	}
	return convs
}

// BenchmarkPair pairs realistic conversations one after the other, as the
// worker does. "cold" cycles through 1000 conversations (about 7 MB of
// text), so contents come from memory; "warm" cycles through 32, whose
// contents stay in cache, as a conversation the reader has just decoded does.
func BenchmarkPair(b *testing.B) {
	for _, bc := range []struct {
		name  string
		convs int
	}{{"cold", 1000}, {"warm", 32}} {
		b.Run(bc.name, func(b *testing.B) {
			convs := benchConversations(bc.convs)
			var p Pairer
			var msgs, chars int64
			emit := func(t *Turn) error {
				chars += int64(t.Metadata.UserChars + t.Metadata.ResponseChars)
				return nil
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c := convs[i%len(convs)]
				i++
				if _, err := p.Pair(c[0].ConversationID, c, emit); err != nil {
					b.Fatal(err)
				}
				msgs += int64(len(c))
			}
			b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(msgs)/float64(b.N), "msgs/op")
		})
	}
}
