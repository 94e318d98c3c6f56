package worker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/turnstile-dev/turnstile/internal/turns"
	"github.com/turnstile-dev/turnstile/worker"
)

// memWarehouse is a small in-memory warehouse that keeps the Source and Sink
// contracts (ordered conversations, atomic replace with a pre-commit check),
// so the use case can be tested without a database.
type memWarehouse struct {
	convs   map[string][]turns.Message // one partition
	orphans int64
	stored  []turns.Turn // the turns partition
	// fault injection
	inputErr, readErr, replaceErr error
	extraRows                     int64 // rows the "warehouse" reports beyond those written
	unknownParents                int64
	replaceCalls                  int
	putErr                        error  // returned by the sink's put for every turn
	onPut                         func() // called by the sink's put
}

var day = civil.Date{Year: 2026, Month: 1, Day: 22}

func (m *memWarehouse) CheckInput(ctx context.Context, d civil.Date) (worker.InputInfo, error) {
	if m.inputErr != nil {
		return worker.InputInfo{}, m.inputErr
	}
	return worker.InputInfo{Conversations: int64(len(m.convs))}, nil
}

func (m *memWarehouse) ReadConversations(ctx context.Context, d civil.Date, fn worker.ConversationFunc) (worker.ReadInfo, error) {
	ids := make([]string, 0, len(m.convs))
	for id := range m.convs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for i, id := range ids {
		if err := ctx.Err(); err != nil {
			return worker.ReadInfo{}, err
		}
		if m.readErr != nil && i == len(ids)/2 {
			return worker.ReadInfo{}, m.readErr
		}
		msgs := slices.Clone(m.convs[id])
		turns.SortMessages(msgs)
		if err := fn(id, msgs); err != nil {
			return worker.ReadInfo{}, err
		}
	}
	return worker.ReadInfo{OrphanMessages: m.orphans}, nil
}

func (m *memWarehouse) ReplaceTurns(ctx context.Context, r worker.Replacement) (worker.ReplaceInfo, error) {
	m.replaceCalls++
	var staged []turns.Turn
	err := r.Produce(ctx, func(t *turns.Turn) error {
		if m.onPut != nil {
			m.onPut()
		}
		if m.putErr != nil {
			return m.putErr
		}
		c := *t
		c.UserMessageIDs = slices.Clone(t.UserMessageIDs)
		c.ResponseMessageIDs = slices.Clone(t.ResponseMessageIDs)
		staged = append(staged, c)
		return nil
	})
	if err != nil {
		return worker.ReplaceInfo{}, err
	}
	if m.replaceErr != nil {
		return worker.ReplaceInfo{}, m.replaceErr
	}
	out := worker.OutputInfo{Rows: int64(len(staged)) + m.extraRows, UnknownParents: m.unknownParents}
	if err := r.Check(out); err != nil {
		return worker.ReplaceInfo{}, err // rolled back: stored is untouched
	}
	m.stored = staged
	return worker.ReplaceInfo{Output: out}, nil
}

// conv builds a conversation from a role string such as "s u a u a".
func conv(id, roles string) []turns.Message {
	names := map[byte]string{'u': "user", 'a': "assistant", 's': "system", 't': "tool", 'x': "narrator"}
	var msgs []turns.Message
	for i, r := range strings.Fields(roles) {
		msgs = append(msgs, turns.Message{
			MessageID: id + "-m" + string(rune('a'+i)), ConversationID: id,
			Seq: int64(i), HasSeq: true, Role: names[r[0]], Content: "text " + r,
		})
	}
	return msgs
}

func newProcessor(m *memWarehouse) *worker.Processor {
	clock := time.Date(2026, 1, 22, 10, 0, 0, 0, time.UTC)
	return &worker.Processor{Warehouse: m, TurnsTable: "turns", Now: func() time.Time {
		clock = clock.Add(time.Millisecond)
		return clock
	}}
}

func TestProcessSummary(t *testing.T) {
	m := &memWarehouse{
		convs: map[string][]turns.Message{
			"c1": conv("c1", "s u a u a"),                         // 2 turns, 2 complete
			"c2": conv("c2", "a u a"),                             // 2 turns, 1 complete
			"c3": conv("c3", "s s"),                               // no turns
			"c4": nil,                                             // empty conversation
			"c5": append(conv("c5", "u x a"), conv("c5", "u")[0]), // unknown role + duplicate id
		},
		orphans: 3,
	}
	p := newProcessor(m)
	got, err := p.Process(context.Background(), worker.Request{Day: day, RunID: "run-1"})
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	want := worker.Summary{
		Partition: "2026-01-22", RunID: "run-1", TurnsTable: "turns",
		Conversations: 5, SessionsProcessed: 3, MessagesRead: 5 + 3 + 2 + 0 + 4,
		TurnsCreated: 5, CompleteTurns: 4, DuplicateMessages: 1, UnknownRoleMessages: 1,
		OrphanMessages: 3, EmptyConversations: 1,
	}
	ignore := cmp.FilterPath(func(p cmp.Path) bool {
		switch p.Last().String() {
		case ".StartedAt", ".CompletedAt", ".DurationMS":
			return true
		}
		return false
	}, cmp.Ignore())
	if diff := cmp.Diff(want, got, ignore); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if int64(len(m.stored)) != got.TurnsCreated {
		t.Errorf("stored %d turns, summary says %d", len(m.stored), got.TurnsCreated)
	}
	if got.DurationMS <= 0 || !got.CompletedAt.After(got.StartedAt) {
		t.Errorf("timing not recorded: %+v", got)
	}

	// A dry run reports the same figures and writes nothing.
	m2 := &memWarehouse{convs: m.convs, orphans: 3}
	dry, err := newProcessor(m2).Process(context.Background(), worker.Request{Day: day, RunID: "run-1", DryRun: true})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	want.DryRun = true
	if diff := cmp.Diff(want, dry, ignore); diff != "" {
		t.Errorf("dry-run summary (-want +got):\n%s", diff)
	}
	if m2.replaceCalls != 0 || m2.stored != nil {
		t.Errorf("dry run wrote: %d replace calls", m2.replaceCalls)
	}
}

func TestProcessFailures(t *testing.T) {
	two := int64(2)
	warehouseDown := errors.New("connection reset")
	tableMissing := worker.MarkPermanent(errors.New("table turns not found"))
	tests := []struct {
		name      string
		wh        *memWarehouse
		req       worker.Request
		wantStep  worker.Step
		wantClass worker.Class
		wantIs    error
		wantText  string
		// cancelOnPut cancels the context when the first turn is written,
		// as a shutdown would.
		cancelOnPut bool
	}{
		{
			name: "empty partition is not ready", wh: &memWarehouse{},
			wantStep: worker.StepInput, wantClass: worker.Retryable, wantIs: worker.ErrNotReady, wantText: "no conversations",
		},
		{
			name: "conversation count differs", wh: &memWarehouse{convs: map[string][]turns.Message{"c1": conv("c1", "u a")}},
			req:      worker.Request{ExpectConversations: &two},
			wantStep: worker.StepInput, wantClass: worker.Retryable, wantIs: worker.ErrNotReady, wantText: "holds 1 conversations, the event announced 2",
		},
		{
			name: "warehouse error on input check", wh: &memWarehouse{inputErr: warehouseDown},
			wantStep: worker.StepInput, wantClass: worker.Retryable, wantIs: warehouseDown,
		},
		{
			name: "missing table is permanent", wh: &memWarehouse{inputErr: tableMissing},
			wantStep: worker.StepInput, wantClass: worker.Permanent, wantText: "table turns not found",
		},
		{
			name: "read fails mid-way", wh: &memWarehouse{convs: map[string][]turns.Message{"c1": conv("c1", "u a"), "c2": conv("c2", "u a")}, readErr: warehouseDown},
			wantStep: worker.StepRead, wantClass: worker.Retryable, wantIs: warehouseDown,
		},
		{
			name: "message id that cannot form a turn id", wh: &memWarehouse{convs: map[string][]turns.Message{"c1": {{MessageID: "bad\x1fid", ConversationID: "c1", Role: "user"}}}},
			wantStep: worker.StepRead, wantClass: worker.Permanent,
		},
		{
			name: "replace fails", wh: &memWarehouse{convs: map[string][]turns.Message{"c1": conv("c1", "u a")}, replaceErr: warehouseDown},
			wantStep: worker.StepReplace, wantClass: worker.Retryable, wantIs: warehouseDown,
		},
		{
			name: "output holds more rows than written", wh: &memWarehouse{convs: map[string][]turns.Message{"c1": conv("c1", "u a")}, extraRows: 1},
			wantStep: worker.StepOutput, wantClass: worker.Retryable, wantText: "holds 2 turns after the write, 1 were written",
		},
		{
			name: "output has unknown parents", wh: &memWarehouse{convs: map[string][]turns.Message{"c1": conv("c1", "u a")}, unknownParents: 1},
			wantStep: worker.StepOutput, wantClass: worker.Retryable, wantText: "parent_id is not a conversation",
		},
		{
			name: "writer fails", wh: &memWarehouse{convs: manyConversations(3000), putErr: warehouseDown},
			wantStep: worker.StepReplace, wantClass: worker.Retryable, wantIs: warehouseDown,
		},
		{
			name: "shutdown during the write is retryable", wh: &memWarehouse{convs: manyConversations(20000)}, cancelOnPut: true,
			wantStep: worker.StepRead, wantClass: worker.Retryable, wantIs: context.Canceled,
		},
		{
			name: "no run id", wh: &memWarehouse{convs: map[string][]turns.Message{"c1": conv("c1", "u a")}},
			req:      worker.Request{RunID: "-"},
			wantStep: worker.StepDecode, wantClass: worker.Permanent, wantText: "run id is empty",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			previous := []turns.Turn{{TurnID: "old"}}
			tc.wh.stored = previous
			req := tc.req
			req.Day = day
			switch req.RunID {
			case "":
				req.RunID = "run-7"
			case "-":
				req.RunID = ""
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancelOnPut {
				tc.wh.onPut = cancel
			}
			_, err := newProcessor(tc.wh).Process(ctx, req)
			var se *worker.StepError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *StepError", err)
			}
			if se.Step != tc.wantStep || se.Class != tc.wantClass || worker.ClassOf(err) != tc.wantClass {
				t.Errorf("step, class = %s, %s; want %s, %s", se.Step, se.Class, tc.wantStep, tc.wantClass)
			}
			if se.Partition != day || se.RunID != req.RunID {
				t.Errorf("error names partition %s run %q, want %s %q", se.Partition, se.RunID, day, req.RunID)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tc.wantIs)
			}
			msg := err.Error()
			for _, part := range []string{string(tc.wantStep), "2026-01-22", string(tc.wantClass), tc.wantText} {
				if !strings.Contains(msg, part) {
					t.Errorf("error %q does not mention %q", msg, part)
				}
			}
			if len(tc.wh.stored) != 1 || tc.wh.stored[0].TurnID != "old" {
				t.Errorf("a failed run changed the stored partition: %+v", tc.wh.stored)
			}
		})
	}
}

// manyConversations is a partition of n two-message conversations. Above
// about 3000 the pipeline cannot hold them all in flight, so the reader is
// still reading when the writer starts.
func manyConversations(n int) map[string][]turns.Message {
	m := make(map[string][]turns.Message, n)
	for i := range n {
		id := fmt.Sprintf("c%05d", i)
		m[id] = conv(id, "u a")
	}
	return m
}

// TestProcessWritesExactlyThePairedTurns: the turns that reach the sink,
// through the read/write pipeline and its batches, are those the engine
// produces, in order, with their message ids intact.
func TestProcessWritesExactlyThePairedTurns(t *testing.T) {
	convs := manyConversations(2000)
	shapes := []string{"s u a u a", "u u a t a", "a u a", "u a t a u", "u t", "u x a"}
	for i := range 700 {
		id := fmt.Sprintf("d%05d", i)
		convs[id] = conv(id, shapes[i%len(shapes)])
	}
	m := &memWarehouse{convs: convs}
	if _, err := newProcessor(m).Process(context.Background(), worker.Request{Day: day, RunID: "run-1"}); err != nil {
		t.Fatal(err)
	}

	var want []turns.Turn
	var p turns.Pairer
	_, err := m.ReadConversations(context.Background(), day, func(id string, msgs []turns.Message) error {
		_, err := p.Pair(id, msgs, func(t *turns.Turn) error {
			c := *t
			c.UserMessageIDs = slices.Clone(t.UserMessageIDs)
			c.ResponseMessageIDs = slices.Clone(t.ResponseMessageIDs)
			want = append(want, c)
			return nil
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 3000 {
		t.Fatalf("only %d turns: the test should span many batches", len(want))
	}
	if diff := cmp.Diff(want, m.stored, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("stored turns differ from the engine's (-want +got):\n%s", diff)
	}
}
