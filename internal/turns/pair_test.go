package turns

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/turnstile-dev/turnstile/internal/identity"
)

const parent = "l8_testconversation0000000000"

// convo builds a conversation from space-separated tokens: u (user),
// a (assistant), t (tool), s (system) or x (an unknown role). A token ending
// in "!" has NULL content. Message i has id "m<i>", seq i and, unless NULL,
// content "<token> <i>".
func convo(tb testing.TB, spec string) []Message {
	tb.Helper()
	roles := map[string]string{"u": "user", "a": "assistant", "t": "tool", "s": "system", "x": "narrator"}
	var msgs []Message
	for i, tok := range strings.Fields(spec) {
		name, null := strings.CutSuffix(tok, "!")
		role, ok := roles[name]
		if !ok {
			tb.Fatalf("convo %q: unknown token %q", spec, tok)
		}
		m := Message{MessageID: fmt.Sprintf("m%d", i), ConversationID: parent, Seq: int64(i), HasSeq: true, Role: role}
		if !null {
			m.Content = fmt.Sprintf("%s %d", name, i)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// pairAll pairs msgs with p and returns deep copies of the turns emitted.
func pairAll(tb testing.TB, p *Pairer, parentID string, msgs []Message) ([]Turn, Stats) {
	tb.Helper()
	var out []Turn
	st, err := p.Pair(parentID, msgs, func(t *Turn) error {
		c := *t
		c.UserMessageIDs = slices.Clone(t.UserMessageIDs)
		c.ResponseMessageIDs = slices.Clone(t.ResponseMessageIDs)
		out = append(out, c)
		return nil
	})
	if err != nil {
		tb.Fatalf("Pair(%q): %v", parentID, err)
	}
	return out, st
}

// shape is what the SPEC §4.2 examples say about a turn.
type shape struct {
	User               []string
	Response           []string
	Complete           bool
	AssistantInitiated bool
	System             int
}

func shapes(ts []Turn) []shape {
	out := []shape{}
	for _, t := range ts {
		out = append(out, shape{
			User:               t.UserMessageIDs,
			Response:           t.ResponseMessageIDs,
			Complete:           t.IsComplete,
			AssistantInitiated: t.Metadata.AssistantInitiated,
			System:             t.Metadata.SystemMessages,
		})
	}
	return out
}

func TestPairRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		spec string
		want []shape
	}{
		// The examples of SPEC §4.2.
		{
			name: "s u a u a",
			spec: "s u a u a",
			want: []shape{
				{User: []string{"m1"}, Response: []string{"m2"}, Complete: true, System: 1},
				{User: []string{"m3"}, Response: []string{"m4"}, Complete: true},
			},
		},
		{
			name: "u u a a",
			spec: "u u a a",
			want: []shape{{User: []string{"m0", "m1"}, Response: []string{"m2", "m3"}, Complete: true}},
		},
		{
			name: "a u a: assistant-initiated first turn",
			spec: "a u a",
			want: []shape{
				{Response: []string{"m0"}, AssistantInitiated: true},
				{User: []string{"m1"}, Response: []string{"m2"}, Complete: true},
			},
		},
		{
			name: "u a t a u: unanswered last user",
			spec: "u a t a u",
			want: []shape{
				{User: []string{"m0"}, Response: []string{"m1", "m2", "m3"}, Complete: true},
				{User: []string{"m4"}},
			},
		},
		{
			name: "u t: no assistant text",
			spec: "u t",
			want: []shape{{User: []string{"m0"}, Response: []string{"m1"}}},
		},
		{
			name: "u a(NULL) t: tool call without text",
			spec: "u a! t",
			want: []shape{{User: []string{"m0"}, Response: []string{"m1", "m2"}}},
		},
		{
			name: "s s: no turns",
			spec: "s s",
			want: []shape{},
		},
		// Further cases of the same rules.
		{
			name: "system in the middle counts in the turn in progress",
			spec: "u s a s u a s",
			want: []shape{
				{User: []string{"m0"}, Response: []string{"m2"}, Complete: true, System: 2},
				{User: []string{"m4"}, Response: []string{"m5"}, Complete: true, System: 1},
			},
		},
		{
			name: "systems before an assistant-initiated turn",
			spec: "s s a u a",
			want: []shape{
				{Response: []string{"m2"}, AssistantInitiated: true, System: 2},
				{User: []string{"m3"}, Response: []string{"m4"}, Complete: true},
			},
		},
		{
			name: "system between user messages does not split them",
			spec: "u s u a",
			want: []shape{{User: []string{"m0", "m2"}, Response: []string{"m3"}, Complete: true, System: 1}},
		},
		{
			name: "tool starts an assistant-initiated turn",
			spec: "t a u",
			want: []shape{
				{Response: []string{"m0", "m1"}, AssistantInitiated: true},
				{User: []string{"m2"}},
			},
		},
		{
			name: "a user after a tool-only response starts a new turn",
			spec: "u t u a",
			want: []shape{
				{User: []string{"m0"}, Response: []string{"m1"}},
				{User: []string{"m2"}, Response: []string{"m3"}, Complete: true},
			},
		},
		{
			name: "unknown roles are skipped",
			spec: "x u x a x",
			want: []shape{{User: []string{"m1"}, Response: []string{"m3"}, Complete: true}},
		},
		{
			name: "a user without content still forms the user side",
			spec: "u! a",
			want: []shape{{User: []string{"m0"}, Response: []string{"m1"}, Complete: true}},
		},
		{
			name: "only users",
			spec: "u u",
			want: []shape{{User: []string{"m0", "m1"}}},
		},
		{
			name: "only unknown roles",
			spec: "x x",
			want: []shape{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var p Pairer
			got, st := pairAll(t, &p, parent, convo(t, tc.spec))
			if diff := cmp.Diff(tc.want, shapes(got)); diff != "" {
				t.Errorf("turns of %q (-want +got):\n%s", tc.spec, diff)
			}
			for i, turn := range got {
				if turn.TurnIndex != int64(i) || turn.ParentID != parent {
					t.Errorf("turn %d: index %d, parent %q; want %d, %q", i, turn.TurnIndex, turn.ParentID, i, parent)
				}
			}
			if st.Turns != int64(len(tc.want)) {
				t.Errorf("Stats.Turns = %d, want %d", st.Turns, len(tc.want))
			}
		})
	}
}

func TestPairStats(t *testing.T) {
	t.Parallel()
	dup := convo(t, "u a u a")
	dup = append(dup, dup[1], dup[2]) // repeated rows
	tests := []struct {
		name string
		msgs []Message
		want Stats
	}{
		{
			name: "no messages",
			msgs: nil,
			want: Stats{Conversations: 1, EmptyConversations: 1},
		},
		{
			name: "only system messages",
			msgs: convo(t, "s s"),
			want: Stats{Messages: 2, Conversations: 1},
		},
		{
			name: "complete and incomplete turns",
			msgs: convo(t, "a u a u"),
			want: Stats{Messages: 4, Conversations: 1, WithTurns: 1, Turns: 3, CompleteTurns: 1},
		},
		{
			name: "unknown roles",
			msgs: convo(t, "x u a x"),
			want: Stats{Messages: 4, Conversations: 1, WithTurns: 1, Turns: 1, CompleteTurns: 1, UnknownRole: 2},
		},
		{
			name: "duplicates",
			msgs: dup,
			want: Stats{Messages: 6, Conversations: 1, WithTurns: 1, Turns: 2, CompleteTurns: 2, Duplicates: 2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var p Pairer
			_, got := pairAll(t, &p, parent, tc.msgs)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPairDuplicates(t *testing.T) {
	t.Parallel()
	msg := func(id string, seq int64, role, content string) Message {
		return Message{MessageID: id, Seq: seq, HasSeq: true, Role: role, Content: content}
	}
	tests := []struct {
		name     string
		msgs     []Message
		wantUser string
		wantResp string
		wantDups int64
		wantUnk  int64
	}{
		{
			name:     "identical rows are kept once",
			msgs:     []Message{msg("q", 0, "user", "hi"), msg("q", 0, "user", "hi"), msg("r", 1, "assistant", "hello")},
			wantUser: "hi", wantResp: "hello", wantDups: 1,
		},
		{
			name:     "the first in order wins, not the first given",
			msgs:     []Message{msg("r", 1, "assistant", "hello"), msg("q", 5, "user", "late copy"), msg("q", 0, "user", "hi")},
			wantUser: "hi", wantResp: "hello", wantDups: 1,
		},
		{
			name:     "equal keys keep the order given",
			msgs:     []Message{msg("q", 0, "user", "first"), msg("q", 0, "user", "second"), msg("r", 1, "assistant", "ok")},
			wantUser: "first", wantResp: "ok", wantDups: 1,
		},
		{
			name:     "a duplicate is dropped before its role is looked at",
			msgs:     []Message{msg("q", 0, "narrator", "?"), msg("q", 1, "user", "hi"), msg("r", 2, "assistant", "ok")},
			wantUser: "", wantResp: "ok", wantDups: 1, wantUnk: 1,
		},
		{
			name:     "many copies",
			msgs:     []Message{msg("q", 0, "user", "hi"), msg("q", 1, "user", "hi"), msg("q", 2, "user", "hi"), msg("r", 3, "assistant", "ok"), msg("r", 4, "assistant", "ok")},
			wantUser: "hi", wantResp: "ok", wantDups: 3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var p Pairer
			got, st := pairAll(t, &p, parent, tc.msgs)
			if len(got) != 1 {
				t.Fatalf("got %d turns, want 1: %+v", len(got), got)
			}
			if got[0].UserText != tc.wantUser || got[0].ResponseText != tc.wantResp {
				t.Errorf("texts = %q / %q, want %q / %q", got[0].UserText, got[0].ResponseText, tc.wantUser, tc.wantResp)
			}
			if st.Duplicates != tc.wantDups || st.UnknownRole != tc.wantUnk {
				t.Errorf("Duplicates, UnknownRole = %d, %d; want %d, %d", st.Duplicates, st.UnknownRole, tc.wantDups, tc.wantUnk)
			}
		})
	}
}

func TestPairTimes(t *testing.T) {
	t.Parallel()
	type timed struct {
		role string
		at   time.Duration // offset from t0; unknown when < 0
	}
	const unknown = -1
	tests := []struct {
		name        string
		msgs        []timed
		wantStart   time.Time
		wantEnd     time.Time
		wantLatency int64
		wantHas     bool
	}{
		{
			name:      "user then assistant",
			msgs:      []timed{{"user", 0}, {"assistant", 1500 * time.Millisecond}},
			wantStart: at(0), wantEnd: at(1500 * time.Millisecond), wantLatency: 1500, wantHas: true,
		},
		{
			name:      "latency counts from the last user message",
			msgs:      []timed{{"user", 0}, {"user", time.Second}, {"assistant", 3 * time.Second}},
			wantStart: at(0), wantEnd: at(3 * time.Second), wantLatency: 2000, wantHas: true,
		},
		{
			name:      "last user message with a known time",
			msgs:      []timed{{"user", time.Second}, {"user", unknown}, {"assistant", 4 * time.Second}},
			wantStart: at(time.Second), wantEnd: at(4 * time.Second), wantLatency: 3000, wantHas: true,
		},
		{
			name:      "first assistant with a known time; tools do not count",
			msgs:      []timed{{"user", 0}, {"tool", time.Second}, {"assistant", unknown}, {"assistant", 5 * time.Second}, {"assistant", 9 * time.Second}},
			wantStart: at(0), wantEnd: at(9 * time.Second), wantLatency: 5000, wantHas: true,
		},
		{
			name:      "user time unknown",
			msgs:      []timed{{"user", unknown}, {"assistant", time.Second}},
			wantStart: at(time.Second), wantEnd: at(time.Second),
		},
		{
			name:      "assistant time unknown",
			msgs:      []timed{{"user", 0}, {"tool", time.Second}, {"assistant", unknown}},
			wantStart: at(0), wantEnd: at(time.Second),
		},
		{
			name:      "negative latency is not reported",
			msgs:      []timed{{"user", 5 * time.Second}, {"assistant", 2 * time.Second}},
			wantStart: at(2 * time.Second), wantEnd: at(5 * time.Second),
		},
		{
			name:      "zero latency is reported",
			msgs:      []timed{{"user", time.Second}, {"assistant", time.Second}},
			wantStart: at(time.Second), wantEnd: at(time.Second), wantLatency: 0, wantHas: true,
		},
		{
			name:      "whole milliseconds, truncated",
			msgs:      []timed{{"user", 0}, {"assistant", 1999999 * time.Microsecond / 1000}},
			wantStart: at(0), wantEnd: at(1999999 * time.Microsecond / 1000), wantLatency: 1, wantHas: true,
		},
		{
			name: "no time known",
			msgs: []timed{{"user", unknown}, {"assistant", unknown}},
		},
		{
			name:      "system times are not part of the span",
			msgs:      []timed{{"system", 0}, {"user", time.Minute}, {"system", time.Hour}, {"assistant", 2 * time.Minute}},
			wantStart: at(time.Minute), wantEnd: at(2 * time.Minute), wantLatency: 60000, wantHas: true,
		},
		{
			name:      "span is earliest and latest, whatever the order",
			msgs:      []timed{{"user", 10 * time.Second}, {"assistant", 30 * time.Second}, {"tool", 5 * time.Second}, {"assistant", 20 * time.Second}},
			wantStart: at(5 * time.Second), wantEnd: at(30 * time.Second), wantLatency: 20000, wantHas: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var msgs []Message
			for i, m := range tc.msgs {
				msg := Message{MessageID: fmt.Sprintf("m%d", i), Seq: int64(i), HasSeq: true, Role: m.role, Content: "x"}
				if m.at >= 0 {
					msg.CreatedAt = at(m.at)
				}
				msgs = append(msgs, msg)
			}
			var p Pairer
			got, _ := pairAll(t, &p, parent, msgs)
			if len(got) != 1 {
				t.Fatalf("got %d turns, want 1", len(got))
			}
			turn := got[0]
			if !turn.StartedAt.Equal(tc.wantStart) || !turn.EndedAt.Equal(tc.wantEnd) {
				t.Errorf("span = %v .. %v, want %v .. %v", turn.StartedAt, turn.EndedAt, tc.wantStart, tc.wantEnd)
			}
			if turn.HasLatency != tc.wantHas || turn.ResponseLatencyMS != tc.wantLatency {
				t.Errorf("latency = %d (known %v), want %d (known %v)", turn.ResponseLatencyMS, turn.HasLatency, tc.wantLatency, tc.wantHas)
			}
		})
	}
}

func TestPairTexts(t *testing.T) {
	t.Parallel()
	type msg struct{ role, content string }
	tests := []struct {
		name         string
		msgs         []msg
		wantUser     string
		wantResp     string
		wantUserN    int
		wantRespN    int
		wantComplete bool
	}{
		{
			name:     "single contents are used as they are",
			msgs:     []msg{{"user", "hi"}, {"assistant", "hello"}},
			wantUser: "hi", wantResp: "hello", wantUserN: 2, wantRespN: 5, wantComplete: true,
		},
		{
			name:     "empty and NULL contents are left out of the join",
			msgs:     []msg{{"user", "one"}, {"user", ""}, {"user", "two"}, {"assistant", ""}, {"assistant", "three"}, {"assistant", "four"}},
			wantUser: "one\n\ntwo", wantResp: "three\n\nfour", wantUserN: 8, wantRespN: 11, wantComplete: true,
		},
		{
			name:     "tool output is not response text",
			msgs:     []msg{{"user", "q"}, {"assistant", "calling"}, {"tool", "{\"result\": 1}"}, {"assistant", "done"}},
			wantUser: "q", wantResp: "calling\n\ndone", wantUserN: 1, wantRespN: 13, wantComplete: true,
		},
		{
			name:     "characters are code points",
			msgs:     []msg{{"user", "héllo"}, {"user", "日本語"}, {"assistant", "✓ 🙂"}},
			wantUser: "héllo\n\n日本語", wantResp: "✓ 🙂", wantUserN: 10, wantRespN: 3, wantComplete: true,
		},
		{
			name:     "all response contents empty",
			msgs:     []msg{{"user", "q"}, {"assistant", ""}, {"tool", "out"}},
			wantUser: "q", wantResp: "", wantUserN: 1, wantRespN: 0,
		},
		{
			name:     "all user contents empty still complete",
			msgs:     []msg{{"user", ""}, {"assistant", "a"}},
			wantUser: "", wantResp: "a", wantUserN: 0, wantRespN: 1, wantComplete: true,
		},
		{
			name:     "white space is content",
			msgs:     []msg{{"user", " "}, {"assistant", "\n"}},
			wantUser: " ", wantResp: "\n", wantUserN: 1, wantRespN: 1, wantComplete: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var msgs []Message
			for i, m := range tc.msgs {
				msgs = append(msgs, Message{MessageID: fmt.Sprintf("m%d", i), Seq: int64(i), HasSeq: true, Role: m.role, Content: m.content})
			}
			var p Pairer
			got, _ := pairAll(t, &p, parent, msgs)
			if len(got) != 1 {
				t.Fatalf("got %d turns, want 1", len(got))
			}
			turn := got[0]
			if turn.UserText != tc.wantUser || turn.ResponseText != tc.wantResp {
				t.Errorf("texts = %q / %q, want %q / %q", turn.UserText, turn.ResponseText, tc.wantUser, tc.wantResp)
			}
			if turn.Metadata.UserChars != tc.wantUserN || turn.Metadata.ResponseChars != tc.wantRespN {
				t.Errorf("chars = %d / %d, want %d / %d", turn.Metadata.UserChars, turn.Metadata.ResponseChars, tc.wantUserN, tc.wantRespN)
			}
			if turn.IsComplete != tc.wantComplete {
				t.Errorf("IsComplete = %v, want %v", turn.IsComplete, tc.wantComplete)
			}
		})
	}
}

func TestPairMetadataCounts(t *testing.T) {
	t.Parallel()
	var p Pairer
	got, _ := pairAll(t, &p, parent, convo(t, "s u u x a t t a! s u"))
	want := []Metadata{
		{UserMessages: 2, AssistantMessages: 2, ToolMessages: 2, SystemMessages: 2, UserChars: len("u 1\n\nu 2"), ResponseChars: len("a 4")},
		{UserMessages: 1, UserChars: len("u 9")},
	}
	var gotMeta []Metadata
	for _, turn := range got {
		gotMeta = append(gotMeta, turn.Metadata)
	}
	if diff := cmp.Diff(want, gotMeta); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
}

func TestPairTurnIDs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		spec    string
		firstOf []string // first user, assistant or tool message of each turn
	}{
		{name: "user first", spec: "u a u a", firstOf: []string{"m0", "m2"}},
		{name: "system before is not the first message", spec: "s u a", firstOf: []string{"m1"}},
		{name: "unknown before is not the first message", spec: "x u a", firstOf: []string{"m1"}},
		{name: "assistant-initiated", spec: "a u a", firstOf: []string{"m0", "m1"}},
		{name: "tool-initiated", spec: "s t a", firstOf: []string{"m1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var p Pairer
			got, _ := pairAll(t, &p, parent, convo(t, tc.spec))
			var want, gotIDs []string
			for _, id := range tc.firstOf {
				want = append(want, identity.MustID("L6", parent, id))
			}
			for _, turn := range got {
				gotIDs = append(gotIDs, turn.TurnID)
			}
			if diff := cmp.Diff(want, gotIDs); diff != "" {
				t.Errorf("turn ids (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPairTurnIDsStableWhenAppended(t *testing.T) {
	t.Parallel()
	var p Pairer
	before, _ := pairAll(t, &p, parent, convo(t, "s u a u a t"))
	after, _ := pairAll(t, &p, parent, convo(t, "s u a u a t a u a s u"))
	if len(before) != 2 || len(after) != 4 {
		t.Fatalf("got %d then %d turns, want 2 then 4", len(before), len(after))
	}
	for i := range before {
		if before[i].TurnID != after[i].TurnID || before[i].TurnIndex != after[i].TurnIndex {
			t.Errorf("turn %d changed when messages were appended: %s#%d -> %s#%d",
				i, before[i].TurnID, before[i].TurnIndex, after[i].TurnID, after[i].TurnIndex)
		}
	}
	again, _ := pairAll(t, &p, parent, convo(t, "s u a u a t a u a s u"))
	if diff := cmp.Diff(after, again); diff != "" {
		t.Errorf("pairing the same conversation again differs (-first +second):\n%s", diff)
	}
}

func TestPairerReuse(t *testing.T) {
	t.Parallel()
	// A Pairer that served other conversations gives the same turns as a
	// fresh one: no system message, seen id or turn state carries over.
	convs := []string{"s s", "u a t a u", "x", "a u a", "", "u u a a s", "s u a u a"}
	var shared Pairer
	for _, spec := range convs {
		msgs := convo(t, spec)
		var fresh Pairer
		want, wantSt := pairAll(t, &fresh, parent, slices.Clone(msgs))
		got, gotSt := pairAll(t, &shared, parent, msgs)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%q with a reused Pairer (-fresh +reused):\n%s", spec, diff)
		}
		if diff := cmp.Diff(wantSt, gotSt); diff != "" {
			t.Errorf("%q stats with a reused Pairer (-fresh +reused):\n%s", spec, diff)
		}
	}
}

func TestPairSlicesDoNotAlias(t *testing.T) {
	t.Parallel()
	var p Pairer
	var first *Turn
	_, err := p.Pair(parent, convo(t, "u u a u a"), func(turn *Turn) error {
		if first == nil {
			first = turn
			// Appending to an emitted slice must not write into the
			// Pairer's buffers.
			_ = append(turn.UserMessageIDs, "intruder")
			_ = append(turn.ResponseMessageIDs, "intruder")
			return nil
		}
		if diff := cmp.Diff([]string{"m3"}, turn.UserMessageIDs); diff != "" {
			t.Errorf("second turn's user ids (-want +got):\n%s", diff)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPairErrors(t *testing.T) {
	t.Parallel()
	t.Run("bad message id", func(t *testing.T) {
		t.Parallel()
		msgs := convo(t, "u a u a")
		msgs[2].MessageID = "bad\x1fid"
		var p Pairer
		var emitted int
		st, err := p.Pair("conv-9", msgs, func(*Turn) error { emitted++; return nil })
		if !errors.Is(err, identity.ErrSeparator) {
			t.Fatalf("Pair error = %v, want one wrapping identity.ErrSeparator", err)
		}
		for _, want := range []string{`"conv-9"`, `"bad\x1fid"`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
		}
		if emitted != 1 || st.Turns != 1 {
			t.Errorf("emitted %d turns, Stats.Turns %d before the error; want 1, 1", emitted, st.Turns)
		}
	})
	t.Run("bad conversation id", func(t *testing.T) {
		t.Parallel()
		var p Pairer
		_, err := p.Pair("conv\x1f", convo(t, "u a"), nil)
		if !errors.Is(err, identity.ErrSeparator) {
			t.Fatalf("Pair error = %v, want one wrapping identity.ErrSeparator", err)
		}
	})
	t.Run("emit error stops pairing", func(t *testing.T) {
		t.Parallel()
		stop := errors.New("sink full")
		var p Pairer
		calls := 0
		_, err := p.Pair(parent, convo(t, "u a u a u a"), func(*Turn) error {
			calls++
			if calls == 2 {
				return stop
			}
			return nil
		})
		if err != stop {
			t.Errorf("Pair error = %v, want the emit error itself", err)
		}
		if calls != 2 {
			t.Errorf("emit called %d times, want 2", calls)
		}
	})
}

func TestPairSortsInPlace(t *testing.T) {
	t.Parallel()
	msgs := convo(t, "u a u a")
	slices.Reverse(msgs)
	var p Pairer
	got, _ := pairAll(t, &p, parent, msgs)
	if diff := cmp.Diff([]string{"m0", "m1", "m2", "m3"}, ids(msgs)); diff != "" {
		t.Errorf("msgs after Pair (-want +got):\n%s", diff)
	}
	if len(got) != 2 || got[0].UserMessageIDs[0] != "m0" {
		t.Errorf("turns of reversed input: %+v", shapes(got))
	}
}
