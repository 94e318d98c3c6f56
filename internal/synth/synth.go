// Package synth generates deterministic synthetic conversations for
// benchmarks and demos: the same Options always give the same conversations,
// shaped like real chat exports (system prompts, tool calls, unanswered
// questions, odd roles, repeated ids, non-ASCII text).
package synth

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"cloud.google.com/go/civil"

	"github.com/turnstile-dev/turnstile/internal/identity"
	"github.com/turnstile-dev/turnstile/internal/ingest"
)

// The number of messages of a conversation is 1 + floor(59 * u^1.5) for u
// uniform in [0, 1): between 1 and MaxMessages, short conversations more
// likely than long ones, with mean MeanMessages.
const (
	MaxMessages  = 60
	MeanMessages = 24.11 // 1 + Σ_{k=1..58} (1 - (k/59)^(2/3))
)

// EstimateMessages returns the expected number of messages of n
// conversations.
func EstimateMessages(n int) int64 {
	return int64(math.Round(float64(n) * MeanMessages))
}

// ConversationsFor returns the number of conversations expected to hold
// about messages messages, for sizing benchmarks.
func ConversationsFor(messages int64) int {
	return max(1, int(math.Round(float64(messages)/MeanMessages)))
}

// Options says what to generate.
type Options struct {
	Seed          uint64
	Conversations int
	Source        string     // the conversations' source, and the L8 id's namespace
	Day           civil.Date // every created_at falls on this day (UTC)
}

// New returns a Reader of opts.Conversations synthetic conversations.
// Conversation i has ConversationID identity.ID("L8", Source, i) and message
// j of it MessageID identity.ID("L5", conversation_id, j) (a few repeat the
// previous message's id) and Seq j. Output depends only on opts, and the
// first k conversations do not depend on opts.Conversations.
//
// The shape, per conversation: 1 to 60 messages (see MeanMessages); a
// system prompt first in 30%; an assistant greeting before the first user
// message in 5%; user messages answered by the assistant, sometimes after a
// tool call (an assistant message with NULL content and metadata
// {"tool_calls": [...]}) and its "tool" result (metadata {"tool_call_id",
// "name"}); in about 15% a final unanswered user message, in 3% a final tool
// result. Roles are spelt the
// OpenAI way (user, assistant, system, tool), the ShareGPT way (human, gpt,
// system, observation) or in mixed case with stray spaces; about 0.7% of
// messages have an unknown or NULL role and 0.3% repeat the previous id.
// Contents are sentences of a built-in vocabulary, some non-ASCII, some
// with code blocks, 1% empty. created_at increases within a conversation
// and lies on Day; 2% are NULL. 30% of conversations have a title; each
// has metadata {"native_id": "<i>"}.
//
// The Reader reuses the returned Conversation, its Messages and their
// Metadata between calls to Next. Next returns an error only when Source
// cannot be part of an id (it contains U+001F).
func New(opts Options) ingest.Reader {
	return &generator{
		opts:     opts,
		rng:      rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		dayStart: opts.Day.In(time.UTC),
	}
}

// kind is what a planned message is.
type kind uint8

const (
	kindSystem kind = iota
	kindUser
	kindAssistant
	kindToolCall
	kindToolResult
)

// dialect is how a conversation spells its roles, indexed by kind.
type dialect [5]string

var dialects = []dialect{
	{"system", "user", "assistant", "assistant", "tool"},
	{"system", "human", "gpt", "gpt", "observation"},
	{"System", "User ", " Assistant", "assistant", "Tool"},
	{"developer", "customer", "bot", "model", "function"},
}

// dialectWeights picks dialects: OpenAI 50%, ShareGPT 35%, mixed case 10%,
// rare spellings 5%.
var dialectWeights = []int{50, 35, 10, 5}

var unknownRoles = []string{"narrator", "moderator", "", "unknown", "user_proxy"}

// span locates a message's content and metadata in the generator's buffers.
type span struct {
	content, contentEnd int
	hasContent          bool
	meta, metaEnd       int // meta == metaEnd: no metadata
}

type generator struct {
	opts     Options
	rng      *rand.Rand
	dayStart time.Time
	next     int // index of the next conversation

	conv  ingest.Conversation
	plan  []kind
	spans []span
	text  []byte // contents of the current conversation
	meta  []byte // metadata of the current conversation
	err   error
}

func (g *generator) Next() (*ingest.Conversation, error) {
	if g.err != nil {
		return nil, g.err
	}
	if g.next >= g.opts.Conversations {
		g.err = io.EOF
		return nil, io.EOF
	}
	i := g.next
	g.next++
	if err := g.generate(i); err != nil {
		g.err = fmt.Errorf("synth: conversation %d: %w", i, err)
		return nil, g.err
	}
	return &g.conv, nil
}

func (g *generator) chance(p float64) bool { return g.rng.Float64() < p }

func (g *generator) generate(i int) error {
	r := g.rng
	native := strconv.Itoa(i)
	convID, err := identity.ID("L8", g.opts.Source, native)
	if err != nil {
		return err
	}
	u := r.Float64()
	n := 1 + int(float64(MaxMessages-1)*u*math.Sqrt(u))
	g.planMessages(n)
	d := dialects[g.weighted(dialectWeights)]

	g.text, g.meta, g.spans = g.text[:0], g.meta[:0], g.spans[:0]
	convMeta := len(g.meta)
	g.meta = append(g.meta, `{"native_id":"`...)
	g.meta = append(g.meta, native...)
	g.meta = append(g.meta, `"}`...)
	convMetaEnd := len(g.meta)

	g.conv = ingest.Conversation{ConversationID: convID, Source: g.opts.Source, Messages: g.conv.Messages[:0]}
	if g.chance(0.3) {
		g.conv.Title = titles[r.IntN(len(titles))]
	}

	// Conversations start in the first 21 hours; 60 steps of at most 120 s
	// keep every message on the day.
	t := g.dayStart.Add(time.Duration(r.Int64N(int64(21*time.Hour/time.Millisecond))) * time.Millisecond)
	var tool, arg int // of the last tool call, for its result
	var callID [8]byte
	for j, k := range g.plan {
		var sp span
		role, hasRole := d[k], true
		switch {
		case g.chance(0.002):
			role, hasRole = "", false
		case g.chance(0.005):
			role = unknownRoles[r.IntN(len(unknownRoles))]
		}

		sp.content = len(g.text)
		sp.hasContent = true
		switch k {
		case kindSystem:
			g.sentences(3 + r.IntN(6))
		case kindUser:
			if !g.chance(0.01) {
				g.sentences(1 + r.IntN(4))
			}
		case kindAssistant:
			if !g.chance(0.01) {
				g.sentences(1 + r.IntN(10))
				if g.chance(0.1) {
					g.text = append(g.text, "\n\n"...)
					g.text = append(g.text, codeSnippets[r.IntN(len(codeSnippets))]...)
				}
			}
		case kindToolCall:
			sp.hasContent = false
			tool, arg = r.IntN(len(tools)), r.IntN(len(toolArgs))
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], r.Uint32())
			hex.Encode(callID[:], b[:])
			sp.meta = len(g.meta)
			g.meta = append(g.meta, `{"tool_calls":[{"id":"call_`...)
			g.meta = append(g.meta, callID[:]...)
			g.meta = append(g.meta, `","type":"function","function":{"name":"`...)
			g.meta = append(g.meta, tools[tool].name...)
			g.meta = append(g.meta, `","arguments":"`...)
			g.meta = g.fill(g.meta, tools[tool].args, toolArgs[arg], true)
			g.meta = append(g.meta, `"}}]}`...)
			sp.metaEnd = len(g.meta)
		case kindToolResult:
			g.text = g.fill(g.text, tools[tool].result, toolArgs[arg], false)
			sp.meta = len(g.meta)
			g.meta = append(g.meta, `{"tool_call_id":"call_`...)
			g.meta = append(g.meta, callID[:]...)
			g.meta = append(g.meta, `","name":"`...)
			g.meta = append(g.meta, tools[tool].name...)
			g.meta = append(g.meta, `"}`...)
			sp.metaEnd = len(g.meta)
		}
		sp.contentEnd = len(g.text)
		g.spans = append(g.spans, sp)

		t = t.Add(g.step(k))
		var created time.Time
		if !g.chance(0.02) {
			created = t
		}
		var id string
		if j > 0 && g.chance(0.003) {
			id = g.conv.Messages[j-1].MessageID
		} else if id, err = identity.ID("L5", convID, strconv.Itoa(j)); err != nil {
			return err
		}
		g.conv.Messages = append(g.conv.Messages, ingest.MessageRow{
			MessageID:      id,
			ConversationID: convID,
			Seq:            int64(j),
			HasSeq:         true,
			Role:           role,
			HasRole:        hasRole,
			CreatedAt:      created,
		})
	}

	// One string holds every content of the conversation.
	text := string(g.text)
	for j, sp := range g.spans {
		m := &g.conv.Messages[j]
		m.Content, m.HasContent = text[sp.content:sp.contentEnd], sp.hasContent
		if sp.metaEnd > sp.meta {
			m.Metadata = g.meta[sp.meta:sp.metaEnd:sp.metaEnd]
		}
	}
	g.conv.Metadata = g.meta[convMeta:convMetaEnd:convMetaEnd]
	return nil
}

// planMessages fills g.plan with the kinds of n messages.
func (g *generator) planMessages(n int) {
	g.plan = g.plan[:0]
	add := func(k kind) {
		if len(g.plan) < n {
			g.plan = append(g.plan, k)
		}
	}
	if g.chance(0.3) {
		add(kindSystem)
	}
	if g.chance(0.05) {
		add(kindAssistant)
	}
	for len(g.plan) < n {
		left := n - len(g.plan)
		if left == 1 && len(g.plan) > 0 && g.plan[len(g.plan)-1] != kindSystem {
			add(kindAssistant) // the answer goes on in a second message
			break
		}
		add(kindUser)
		if left >= 4 && g.chance(0.1) {
			add(kindUser) // a follow-up before the answer
		}
		if n-len(g.plan) >= 3 && g.chance(0.2) {
			add(kindToolCall)
			add(kindToolResult)
		}
		add(kindAssistant)
	}
	switch {
	case g.chance(0.1):
		g.plan[n-1] = kindUser // an unanswered question
	case n >= 3 && g.chance(0.03):
		g.plan[n-2], g.plan[n-1] = kindToolCall, kindToolResult // cut off after a tool result
	}
}

func (g *generator) weighted(weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	x := g.rng.IntN(total)
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// sentences appends k sentences to the text, in paragraphs of three.
func (g *generator) sentences(k int) {
	for s := range k {
		switch {
		case s == 0:
		case s%3 == 0:
			g.text = append(g.text, "\n\n"...)
		default:
			g.text = append(g.text, ' ')
		}
		g.text = append(g.text, sentences[g.rng.IntN(len(sentences))]...)
	}
}

// fill appends template with $S replaced by arg and $N by a random number.
// quoted escapes the quotes, for a JSON string.
func (g *generator) fill(dst []byte, template, arg string, quoted bool) []byte {
	for i := 0; i < len(template); i++ {
		c := template[i]
		switch {
		case c == '$' && i+1 < len(template) && template[i+1] == 'S':
			dst = append(dst, arg...)
			i++
		case c == '$' && i+1 < len(template) && template[i+1] == 'N':
			dst = strconv.AppendInt(dst, int64(g.rng.IntN(1000)), 10)
			i++
		case c == '"' && quoted:
			dst = append(dst, '\\', '"')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// step is the time before a message of kind k.
func (g *generator) step(k kind) time.Duration {
	var maxMS int64
	switch k {
	case kindUser:
		maxMS = 120_000 // reading and typing
	case kindAssistant:
		maxMS = 30_000
	default:
		maxMS = 3_000
	}
	return time.Duration(1+g.rng.Int64N(maxMS)) * time.Millisecond
}
