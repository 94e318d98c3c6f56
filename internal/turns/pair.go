package turns

import (
	"fmt"
	"time"

	"github.com/turnstile-dev/turnstile/internal/identity"
)

// turnLevel is the entity level of a turn's id (SPEC §3).
const turnLevel = "L6"

// Pairer pairs conversations' messages into turns (SPEC §4.2). The zero
// value is ready to use. A Pairer reuses its buffers from one conversation
// to the next, so one Pairer should serve a whole stream of conversations;
// it is not safe for concurrent use.
type Pairer struct {
	turn Turn // handed to emit

	// The turn being built.
	open        bool
	firstID     string // first user, assistant or tool message id
	index       int64
	userIDs     []string
	respIDs     []string
	userTexts   []string // non-empty user contents
	respTexts   []string // non-empty assistant contents
	started     time.Time
	ended       time.Time
	lastUser    time.Time // last known user time
	firstAsst   time.Time // first known assistant time
	users       int
	assistants  int
	tools       int
	systems     int
	asstStarted bool

	// pendingSystem counts system messages that came before the first turn.
	pendingSystem int

	seen map[string]struct{} // message ids of the conversation so far
}

// seenKeep is the largest set of message ids whose memory a Pairer keeps
// for the next conversation; a larger one is dropped rather than cleared.
const seenKeep = 1024

// Pair pairs the messages of the conversation parentID into turns and calls
// emit for each turn, in order. It first puts msgs in SPEC §4.1 order, in
// place (see SortMessages), then drops every repeated message_id after its
// first occurrence and skips messages whose role NormalizeRole does not
// know, counting both in the returned Stats.
//
// A turn's TurnID is identity.ID("L6", parentID, id of its first user,
// assistant or tool message), its ParentID is parentID and its TurnIndex
// counts from 0 within the conversation. System messages belong to no
// turn's message ids; they are counted in Metadata.SystemMessages of the
// turn in progress, or of the first turn when they come before it.
//
// The *Turn and its slices are only valid during the call to emit: Pair
// reuses them for the next turn. Its strings are ordinary strings that may
// be kept. emit may be nil when only the Stats are wanted.
//
// Pair stops at the first error emit returns and returns that error as is.
// It returns an error naming the conversation and the message when a turn
// id cannot be built (an id containing U+001F). Stats count what was done
// up to the error.
func (p *Pairer) Pair(parentID string, msgs []Message, emit func(*Turn) error) (Stats, error) {
	st := Stats{Messages: int64(len(msgs)), Conversations: 1}
	if len(msgs) == 0 {
		st.EmptyConversations = 1
		return st, nil
	}
	SortMessages(msgs)
	p.resetConversation(len(msgs))
	for i := range msgs {
		m := &msgs[i]
		if p.duplicate(m.MessageID) {
			st.Duplicates++
			continue
		}
		switch NormalizeRole(m.Role) {
		case RoleUnknown:
			st.UnknownRole++
		case RoleSystem:
			if p.open {
				p.systems++
			} else {
				p.pendingSystem++
			}
		case RoleUser:
			if p.open && len(p.respIDs) > 0 {
				if err := p.flush(parentID, emit, &st); err != nil {
					return st, err
				}
			}
			if !p.open {
				p.start(m.MessageID, false)
			}
			p.users++
			p.userIDs = append(p.userIDs, m.MessageID)
			if m.Content != "" {
				p.userTexts = append(p.userTexts, m.Content)
			}
			if !m.CreatedAt.IsZero() {
				p.lastUser = m.CreatedAt
				p.observe(m.CreatedAt)
			}
		case RoleAssistant:
			p.response(m)
			p.assistants++
			if m.Content != "" {
				p.respTexts = append(p.respTexts, m.Content)
			}
			if !m.CreatedAt.IsZero() && p.firstAsst.IsZero() {
				p.firstAsst = m.CreatedAt
			}
		case RoleTool:
			p.response(m)
			p.tools++
		}
	}
	if p.open {
		if err := p.flush(parentID, emit, &st); err != nil {
			return st, err
		}
	}
	if st.Turns > 0 {
		st.WithTurns = 1
	}
	return st, nil
}

// resetConversation prepares for a conversation of n messages.
func (p *Pairer) resetConversation(n int) {
	p.index = 0
	p.open = false
	p.pendingSystem = 0
	if p.seen == nil || len(p.seen) > seenKeep {
		p.seen = make(map[string]struct{}, max(n, 16))
	} else {
		clear(p.seen)
	}
}

// duplicate records id and reports whether it was already seen in the
// conversation.
func (p *Pairer) duplicate(id string) bool {
	if _, ok := p.seen[id]; ok {
		return true
	}
	p.seen[id] = struct{}{}
	return false
}

// start opens a turn whose first message is id. The first turn of a
// conversation takes the system messages that came before it.
func (p *Pairer) start(id string, assistantInitiated bool) {
	p.open = true
	p.firstID = id
	p.userIDs = p.userIDs[:0]
	p.respIDs = p.respIDs[:0]
	p.userTexts = p.userTexts[:0]
	p.respTexts = p.respTexts[:0]
	p.started = time.Time{}
	p.ended = time.Time{}
	p.lastUser = time.Time{}
	p.firstAsst = time.Time{}
	p.users, p.assistants, p.tools = 0, 0, 0
	p.systems, p.pendingSystem = p.pendingSystem, 0
	p.asstStarted = assistantInitiated
}

// response adds an assistant or tool message to the response side,
// opening an assistant-initiated turn when there is none.
func (p *Pairer) response(m *Message) {
	if !p.open {
		p.start(m.MessageID, true)
	}
	p.respIDs = append(p.respIDs, m.MessageID)
	if !m.CreatedAt.IsZero() {
		p.observe(m.CreatedAt)
	}
}

// observe widens the turn's time span to include the known time t.
func (p *Pairer) observe(t time.Time) {
	if p.started.IsZero() || t.Before(p.started) {
		p.started = t
	}
	if p.ended.IsZero() || t.After(p.ended) {
		p.ended = t
	}
}

// flush completes the open turn, hands it to emit and closes it.
func (p *Pairer) flush(parentID string, emit func(*Turn) error, st *Stats) error {
	p.open = false
	id, err := identity.ID(turnLevel, parentID, p.firstID)
	if err != nil {
		return fmt.Errorf("conversation %q: turn %d from message %q: %w", parentID, p.index, p.firstID, err)
	}
	userText := join(p.userTexts)
	respText := join(p.respTexts)
	t := &p.turn
	*t = Turn{
		TurnID:             id,
		ParentID:           parentID,
		TurnIndex:          p.index,
		UserMessageIDs:     clip(p.userIDs),
		ResponseMessageIDs: clip(p.respIDs),
		UserText:           userText,
		ResponseText:       respText,
		StartedAt:          p.started,
		EndedAt:            p.ended,
		IsComplete:         len(p.userIDs) > 0 && respText != "",
		Metadata: Metadata{
			UserMessages:       p.users,
			AssistantMessages:  p.assistants,
			ToolMessages:       p.tools,
			SystemMessages:     p.systems,
			UserChars:          runeCount(userText),
			ResponseChars:      runeCount(respText),
			AssistantInitiated: p.asstStarted,
		},
	}
	if !p.lastUser.IsZero() && !p.firstAsst.IsZero() {
		if d := p.firstAsst.Sub(p.lastUser); d >= 0 {
			t.ResponseLatencyMS = d.Milliseconds()
			t.HasLatency = true
		}
	}
	p.index++
	st.Turns++
	if t.IsComplete {
		st.CompleteTurns++
	}
	if emit == nil {
		return nil
	}
	return emit(t)
}

// clip returns s with its capacity cut to its length, or nil when empty, so
// that a caller appending to it cannot write into the Pairer's buffer.
func clip(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s[:len(s):len(s)]
}
