package turns

import (
	"fmt"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// fuzzRoles are the raw roles a fuzzed message can take.
var fuzzRoles = []string{"user", "assistant", "tool", "system", "Human", " gpt ", "function_call", "narrator", ""}

// fuzzConversation decodes data into messages: each message takes three
// bytes (role, id and keys, content and time). Ids come from a small set so
// that repeats are common.
func fuzzConversation(data []byte) []Message {
	var msgs []Message
	for i := 0; i+2 < len(data) && len(msgs) < 200; i += 3 {
		r, k, c := data[i], data[i+1], data[i+2]
		m := Message{
			MessageID: fmt.Sprintf("m%d", k%24),
			Role:      fuzzRoles[int(r)%len(fuzzRoles)],
		}
		if k&0x80 == 0 {
			m.Seq, m.HasSeq = int64(k>>5), true
		}
		if c&1 == 0 {
			m.Content = fmt.Sprintf("text %d", c)
		}
		if c&2 == 0 {
			m.CreatedAt = t0.Add(time.Duration(c>>2) * time.Second)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// kept returns, in SPEC §4.1 order, the ids of the messages that pairing
// must place in turns (first occurrence of each id, user, assistant or tool
// role), and the number of kept system messages.
func kept(msgs []Message) (ids []string, systems int) {
	sorted := slices.Clone(msgs)
	SortMessages(sorted)
	seen := map[string]bool{}
	for _, m := range sorted {
		if seen[m.MessageID] {
			continue
		}
		seen[m.MessageID] = true
		switch NormalizeRole(m.Role) {
		case RoleUser, RoleAssistant, RoleTool:
			ids = append(ids, m.MessageID)
		case RoleSystem:
			systems++
		}
	}
	return ids, systems
}

func FuzzPair(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0, 1, 2, 0, 0, 3, 4, 1, 4, 2})
	f.Add([]byte{3, 1, 0, 3, 2, 0, 2, 3, 1})
	f.Add([]byte{0, 1, 0, 0, 1, 0, 7, 0x81, 3, 8, 0x82, 5, 1, 0x83, 6})
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs := fuzzConversation(data)
		var p Pairer
		got, st := pairAll(t, &p, parent, slices.Clone(msgs))

		checkTurns(t, msgs, got, st)

		// With distinct ids the order of the input does not matter.
		distinct := map[string]bool{}
		for _, m := range msgs {
			distinct[m.MessageID] = true
		}
		if len(distinct) == len(msgs) {
			rev := slices.Clone(msgs)
			slices.Reverse(rev)
			again, _ := pairAll(t, &p, parent, rev)
			if diff := cmp.Diff(got, again); diff != "" {
				t.Fatalf("reversed input pairs differently (-given +reversed):\n%s", diff)
			}
		}
	})
}

// checkTurns checks the invariants of pairing one conversation: every kept
// message id appears exactly once across the turns, in order; turn ids are
// unique; turn indexes run 0..n-1; counts, flags and stats agree.
func checkTurns(tb testing.TB, msgs []Message, got []Turn, st Stats) {
	tb.Helper()
	wantIDs, wantSystems := kept(msgs)

	// Every kept message id appears exactly once, in order.
	var gotIDs []string
	seenTurnIDs := map[string]bool{}
	systems := 0
	var complete int64
	for i, turn := range got {
		if turn.TurnIndex != int64(i) {
			tb.Fatalf("turn %d has index %d", i, turn.TurnIndex)
		}
		if seenTurnIDs[turn.TurnID] {
			tb.Fatalf("turn id %s repeated", turn.TurnID)
		}
		seenTurnIDs[turn.TurnID] = true
		if len(turn.UserMessageIDs)+len(turn.ResponseMessageIDs) == 0 {
			tb.Fatalf("turn %d has no message", i)
		}
		if turn.Metadata.UserMessages != len(turn.UserMessageIDs) ||
			turn.Metadata.AssistantMessages+turn.Metadata.ToolMessages != len(turn.ResponseMessageIDs) {
			tb.Fatalf("turn %d counts %+v do not match its ids %v / %v", i, turn.Metadata, turn.UserMessageIDs, turn.ResponseMessageIDs)
		}
		if turn.Metadata.AssistantInitiated != (len(turn.UserMessageIDs) == 0) || (turn.Metadata.AssistantInitiated && i != 0) {
			tb.Fatalf("turn %d: assistant_initiated %v with %d user messages", i, turn.Metadata.AssistantInitiated, len(turn.UserMessageIDs))
		}
		if i < len(got)-1 && len(turn.ResponseMessageIDs) == 0 {
			tb.Fatalf("turn %d is followed by another but has no response", i)
		}
		if turn.IsComplete != (len(turn.UserMessageIDs) > 0 && turn.ResponseText != "") {
			tb.Fatalf("turn %d: IsComplete %v", i, turn.IsComplete)
		}
		if turn.StartedAt.After(turn.EndedAt) || turn.StartedAt.IsZero() != turn.EndedAt.IsZero() {
			tb.Fatalf("turn %d: span %v .. %v", i, turn.StartedAt, turn.EndedAt)
		}
		if turn.Metadata.UserChars != utf8.RuneCountInString(turn.UserText) ||
			turn.Metadata.ResponseChars != utf8.RuneCountInString(turn.ResponseText) {
			tb.Fatalf("turn %d: chars %d / %d for texts %q / %q", i, turn.Metadata.UserChars, turn.Metadata.ResponseChars, turn.UserText, turn.ResponseText)
		}
		if turn.HasLatency && turn.ResponseLatencyMS < 0 {
			tb.Fatalf("turn %d: negative latency %d", i, turn.ResponseLatencyMS)
		}
		if turn.IsComplete {
			complete++
		}
		systems += turn.Metadata.SystemMessages
		gotIDs = append(gotIDs, turn.UserMessageIDs...)
		gotIDs = append(gotIDs, turn.ResponseMessageIDs...)
	}
	if diff := cmp.Diff(wantIDs, gotIDs); diff != "" {
		tb.Fatalf("message ids across turns (-kept +got):\n%s", diff)
	}
	if len(got) > 0 && systems != wantSystems {
		tb.Fatalf("system_messages sum to %d, want %d", systems, wantSystems)
	}
	if st.Turns != int64(len(got)) || st.CompleteTurns != complete || st.Messages != int64(len(msgs)) {
		tb.Fatalf("stats %+v for %d turns (%d complete) of %d messages", st, len(got), complete, len(msgs))
	}
	if st.Duplicates+st.UnknownRole+int64(len(wantIDs)+wantSystems) != st.Messages {
		tb.Fatalf("stats %+v do not account for %d kept and %d system messages", st, len(wantIDs), wantSystems)
	}
}
