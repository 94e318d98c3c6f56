// Package warehousetest is the contract suite that every warehouse passes:
// import, the partition read of stage 6, the atomic turns replacement and
// the export, seen only through their interfaces. An implementation's test
// calls Run with a function that opens a fresh, empty warehouse.
package warehousetest

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/turnstile-dev/turnstile/internal/ingest"
	"github.com/turnstile-dev/turnstile/internal/turns"
	"github.com/turnstile-dev/turnstile/worker"
)

// Warehouse is what the suite exercises.
type Warehouse interface {
	worker.Warehouse
	ingest.Store
	ExportTurns(ctx context.Context, day civil.Date, fn func(*turns.Row) error) error
}

// Option gives the suite a capability of the implementation's test setup.
type Option func(*config)

type config struct {
	insertMessages func(t *testing.T, w Warehouse, day civil.Date, rows []ingest.MessageRow)
}

// InsertMessages gives the suite a way to store message rows in a partition
// without their conversation rows (as a broken stage 4 would), which no
// import does. Without it, the orphan case is skipped.
func InsertMessages(fn func(t *testing.T, w Warehouse, day civil.Date, rows []ingest.MessageRow)) Option {
	return func(c *config) { c.insertMessages = fn }
}

// Run runs the contract suite. open returns a fresh, empty warehouse whose
// tables exist; it registers its own cleanup.
func Run(t *testing.T, open func(t *testing.T) Warehouse, opts ...Option) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	s := suite{open: open, cfg: cfg}
	t.Run("ReadConversationsOrder", s.readOrder)
	t.Run("ReadConversationsStopsAtCallbackError", s.readCallbackError)
	t.Run("OrphanMessages", s.orphans)
	t.Run("CheckInput", s.checkInput)
	t.Run("ReplaceExportRoundTrip", s.roundTrip)
	t.Run("ReplaceAgain", s.replaceAgain)
	t.Run("FailedReplaceKeepsPartition", s.failedReplace)
	t.Run("ReplaceLeavesOtherPartitions", s.replaceOtherPartitions)
	t.Run("CheckSeesUnknownParents", s.unknownParents)
	t.Run("ProduceReadsWhileReplacing", s.produceReads)
	t.Run("ConcurrentReplacements", s.concurrentReplacements)
	t.Run("ImportLeavesOtherPartitions", s.importOtherPartitions)
	t.Run("ReimportReplacesConversations", s.reimport)
	t.Run("ImportMergesRepeatedConversation", s.importMerge)
	t.Run("FailedImportStoresNothing", s.failedImport)
}

type suite struct {
	open func(t *testing.T) Warehouse
	cfg  config
}

var (
	day      = civil.Date{Year: 2026, Month: time.January, Day: 22}
	otherDay = civil.Date{Year: 2026, Month: time.January, Day: 23}
	// A zone east of UTC: a warehouse must store instants and return UTC.
	india = time.FixedZone("IST", 5*3600+1800)
	t0    = time.Date(2026, 1, 22, 10, 0, 0, 123456000, india)
)

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

// --- input fixtures ---

// sliceReader is an ingest.Reader over conversations in memory. It hands out
// one reused Conversation, as file readers do, and fails with err when it
// reaches position failAt (when err is set).
type sliceReader struct {
	convs  []ingest.Conversation
	failAt int
	err    error
	i      int
	cur    ingest.Conversation
}

func reader(convs ...ingest.Conversation) *sliceReader { return &sliceReader{convs: convs} }

func (r *sliceReader) Next() (*ingest.Conversation, error) {
	if r.err != nil && r.i == r.failAt {
		return nil, r.err
	}
	if r.i >= len(r.convs) {
		return nil, io.EOF
	}
	c := r.convs[r.i]
	r.i++
	r.cur.ConversationID, r.cur.Source, r.cur.Title, r.cur.Metadata = c.ConversationID, c.Source, c.Title, c.Metadata
	r.cur.Messages = append(r.cur.Messages[:0], c.Messages...)
	return &r.cur, nil
}

// msg is a message row with every column set; the options null columns.
func msg(conv, id string, seq int64, role, content string, created time.Time) ingest.MessageRow {
	return ingest.MessageRow{
		MessageID: id, ConversationID: conv,
		Seq: seq, HasSeq: true,
		Role: role, HasRole: true,
		Content: content, HasContent: true,
		CreatedAt: created,
		Metadata:  []byte(`{"k":1}`),
	}
}

func noSeq(m ingest.MessageRow) ingest.MessageRow     { m.Seq, m.HasSeq = 0, false; return m }
func noTime(m ingest.MessageRow) ingest.MessageRow    { m.CreatedAt = time.Time{}; return m }
func noRole(m ingest.MessageRow) ingest.MessageRow    { m.Role, m.HasRole = "", false; return m }
func noContent(m ingest.MessageRow) ingest.MessageRow { m.Content, m.HasContent = "", false; return m }

func conv(id string, msgs ...ingest.MessageRow) ingest.Conversation {
	return ingest.Conversation{ConversationID: id, Source: "sharegpt", Title: "title " + id, Metadata: []byte(`{"src":"test"}`), Messages: msgs}
}

// want is the turns.Message a read returns for a stored row.
func want(m ingest.MessageRow) turns.Message {
	return turns.Message{
		MessageID: m.MessageID, ConversationID: m.ConversationID,
		Seq: m.Seq, HasSeq: m.HasSeq, Role: m.Role, Content: m.Content, CreatedAt: m.CreatedAt,
	}
}

func wants(ms ...ingest.MessageRow) []turns.Message {
	out := []turns.Message{}
	for _, m := range ms {
		out = append(out, want(m))
	}
	return out
}

// --- helpers ---

type conversation struct {
	ID       string
	Messages []turns.Message
}

func importConvs(tb testing.TB, w Warehouse, d civil.Date, convs ...ingest.Conversation) ingest.Result {
	tb.Helper()
	res, err := w.Import(context.Background(), d, "run-import", reader(convs...))
	if err != nil {
		tb.Fatalf("Import(%s): %v", d, err)
	}
	return res
}

func readAll(tb testing.TB, w Warehouse, d civil.Date) ([]conversation, worker.ReadInfo) {
	tb.Helper()
	got := []conversation{}
	info, err := w.ReadConversations(context.Background(), d, func(id string, msgs []turns.Message) error {
		for _, m := range msgs {
			if m.CreatedAt.Location() != time.UTC {
				tb.Errorf("message %s created_at %v is not in UTC", m.MessageID, m.CreatedAt)
			}
		}
		got = append(got, conversation{ID: id, Messages: append([]turns.Message{}, msgs...)})
		return nil
	})
	if err != nil {
		tb.Fatalf("ReadConversations(%s): %v", d, err)
	}
	return got, info
}

func exportAll(tb testing.TB, w Warehouse, d civil.Date) []turns.Row {
	tb.Helper()
	got := []turns.Row{}
	err := w.ExportTurns(context.Background(), d, func(r *turns.Row) error {
		for name, ts := range map[string]time.Time{"started_at": r.StartedAt, "ended_at": r.EndedAt, "created_at": r.CreatedAt} {
			if ts.Location() != time.UTC {
				tb.Errorf("turn %s %s %v is not in UTC", r.TurnID, name, ts)
			}
		}
		got = append(got, *r)
		return nil
	})
	if err != nil {
		tb.Fatalf("ExportTurns(%s): %v", d, err)
	}
	return got
}

// produce puts ts through put, reusing one Turn and its slices the way the
// pairing engine may.
func produce(ts []turns.Turn) func(context.Context, worker.Put) error {
	return func(_ context.Context, put worker.Put) error {
		var cur turns.Turn
		for _, t := range ts {
			users, responses := cur.UserMessageIDs[:0], cur.ResponseMessageIDs[:0]
			cur = t
			cur.UserMessageIDs = append(users, t.UserMessageIDs...)
			cur.ResponseMessageIDs = append(responses, t.ResponseMessageIDs...)
			if err := put(&cur); err != nil {
				return err
			}
		}
		return nil
	}
}

var createdAt = time.Date(2026, 1, 22, 12, 30, 0, 654321000, india)

func replace(ctx context.Context, w Warehouse, d civil.Date, runID string, ts []turns.Turn, check func(worker.OutputInfo) error) (worker.ReplaceInfo, error) {
	if check == nil {
		check = func(worker.OutputInfo) error { return nil }
	}
	return w.ReplaceTurns(ctx, worker.Replacement{
		Day: d, RunID: runID, CreatedAt: createdAt, Produce: produce(ts), Check: check,
	})
}

func mustReplace(tb testing.TB, w Warehouse, d civil.Date, runID string, ts []turns.Turn) worker.ReplaceInfo {
	tb.Helper()
	info, err := replace(context.Background(), w, d, runID, ts, nil)
	if err != nil {
		tb.Fatalf("ReplaceTurns(%s, %s): %v", d, runID, err)
	}
	return info
}

// rows is what an export of ts written by run on d returns, in export order.
func rows(d civil.Date, runID string, ts ...turns.Turn) []turns.Row {
	out := []turns.Row{}
	for _, t := range ts {
		out = append(out, turns.Row{Turn: t, IngestionDate: d, CreatedAt: createdAt, RunID: runID})
	}
	return out
}

var rowOpts = cmp.Options{cmpopts.EquateEmpty()}

// turnSet is a set of turns varied over every column: arrays empty and not,
// NULL and zero latency, NULL timestamps, non-ASCII text.
func turnSet(prefix string) []turns.Turn {
	return []turns.Turn{
		{
			TurnID: prefix + "-c0-0", ParentID: "c0", TurnIndex: 0,
			ResponseMessageIDs: []string{"a0"},
			ResponseText:       "hello from the assistant",
			Metadata:           turns.Metadata{AssistantMessages: 1, ResponseChars: 24, AssistantInitiated: true},
		},
		{
			TurnID: prefix + "-c1-0", ParentID: "c1", TurnIndex: 0,
			UserMessageIDs:     []string{"u1", "u2"},
			ResponseMessageIDs: []string{"a1", "t1", "a2"},
			UserText:           "first\n\nsecond",
			ResponseText:       "answer\n\nmore",
			StartedAt:          at(0), EndedAt: at(3),
			ResponseLatencyMS: 60000, HasLatency: true,
			IsComplete: true,
			Metadata: turns.Metadata{UserMessages: 2, AssistantMessages: 2, ToolMessages: 1, SystemMessages: 1,
				UserChars: 13, ResponseChars: 12},
		},
		{
			TurnID: prefix + "-c1-1", ParentID: "c1", TurnIndex: 1,
			UserMessageIDs: []string{"u3"},
			UserText:       "no answer",
			StartedAt:      at(5), EndedAt: at(5),
			Metadata: turns.Metadata{UserMessages: 1, UserChars: 9},
		},
		{
			TurnID: prefix + "-c2-0", ParentID: "c2", TurnIndex: 0,
			UserMessageIDs:     []string{"x"},
			ResponseMessageIDs: []string{"y"},
			UserText:           "héllo ✓ 你好",
			ResponseText:       "line1\nline2 \"quoted\" \\ back",
			StartedAt:          at(10), EndedAt: at(10),
			ResponseLatencyMS: 0, HasLatency: true,
			IsComplete: true,
			Metadata:   turns.Metadata{UserMessages: 1, AssistantMessages: 1, UserChars: 10, ResponseChars: 27},
		},
	}
}

func shuffled(ts []turns.Turn) []turns.Turn {
	// A fixed order other than the export order.
	return []turns.Turn{ts[2], ts[3], ts[0], ts[1]}
}

func parents(tb testing.TB, w Warehouse, d civil.Date) {
	tb.Helper()
	importConvs(tb, w, d, conv("c0"), conv("c1"), conv("c2"))
}

// --- cases ---

func (s suite) readOrder(t *testing.T) {
	w := s.open(t)
	// The rows of c-order, as stored, and in SPEC §4.1 order.
	var (
		h   = noContent(noRole(noTime(msg("c-order", "h", 0, "user", "", time.Time{}))))
		d1  = msg("c-order", "d", 1, "user", "d at 3", at(3))
		c   = msg("c-order", "c", 1, "assistant", "c at 5", at(5))
		g   = noTime(msg("c-order", "g", 1, "tool", "g no time", time.Time{}))
		a   = msg("c-order", "a", 2, " Human ", "a", at(0))
		d2  = msg("c-order", "d", 3, "assistant", "repeated id", at(0))
		j   = msg("c-order", "j", 5, "gpt", "", at(0))
		k   = msg("c-order", "k", 5, "gpt", "k", at(0))
		b   = noSeq(msg("c-order", "b", 0, "user", "b", at(1)))
		f   = noSeq(msg("c-order", "f", 0, "user", "f", at(1)))
		e   = noTime(noSeq(msg("c-order", "e", 0, "weird", "e", time.Time{})))
		one = msg("b-first", "m0", 0, "user", "only", at(0))
	)
	res := importConvs(t, w, day,
		conv("c-order", e, k, b, a, d2, c, g, f, j, d1, h),
		conv("c-empty"),
		conv("b-first", one),
	)
	if diff := cmp.Diff(ingest.Result{Conversations: 3, Messages: 12}, res); diff != "" {
		t.Errorf("Import result (-want +got):\n%s", diff)
	}

	got, info := readAll(t, w, day)
	wantConvs := []conversation{
		{ID: "b-first", Messages: wants(one)},
		{ID: "c-empty", Messages: []turns.Message{}},
		{ID: "c-order", Messages: wants(h, d1, c, g, a, d2, j, k, b, f, e)},
	}
	if diff := cmp.Diff(wantConvs, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("ReadConversations (-want +got):\n%s", diff)
	}
	if info.OrphanMessages != 0 {
		t.Errorf("OrphanMessages = %d, want 0", info.OrphanMessages)
	}

	empty, _ := readAll(t, w, otherDay)
	if len(empty) != 0 {
		t.Errorf("ReadConversations(%s) of a missing partition = %v, want nothing", otherDay, empty)
	}
}

func (s suite) readCallbackError(t *testing.T) {
	w := s.open(t)
	importConvs(t, w, day, conv("c1"), conv("c2"), conv("c3"))
	stop := errors.New("stop here")
	var seen []string
	_, err := w.ReadConversations(context.Background(), day, func(id string, _ []turns.Message) error {
		seen = append(seen, id)
		if len(seen) == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Errorf("ReadConversations error = %v, want the callback's %v", err, stop)
	}
	if diff := cmp.Diff([]string{"c1", "c2"}, seen); diff != "" {
		t.Errorf("conversations seen (-want +got):\n%s", diff)
	}
}

func (s suite) orphans(t *testing.T) {
	if s.cfg.insertMessages == nil {
		t.Skip("the implementation's test gives no warehousetest.InsertMessages: orphan messages cannot be stored through an import")
	}
	w := s.open(t)
	importConvs(t, w, day, conv("c1", msg("c1", "m1", 0, "user", "hi", at(0))))
	importConvs(t, w, otherDay, conv("ghost"))
	s.cfg.insertMessages(t, w, day, []ingest.MessageRow{
		msg("ghost", "o1", 0, "user", "conversation only in another partition", at(0)),
		msg("nowhere", "o2", 0, "user", "no conversation at all", at(0)),
		msg("c1", "m2", 1, "assistant", "not an orphan", at(1)),
	})
	got, info := readAll(t, w, day)
	if info.OrphanMessages != 2 {
		t.Errorf("OrphanMessages = %d, want 2", info.OrphanMessages)
	}
	wantConvs := []conversation{{ID: "c1", Messages: wants(
		msg("c1", "m1", 0, "user", "hi", at(0)),
		msg("c1", "m2", 1, "assistant", "not an orphan", at(1)),
	)}}
	if diff := cmp.Diff(wantConvs, got); diff != "" {
		t.Errorf("ReadConversations (-want +got):\n%s", diff)
	}
}

func (s suite) checkInput(t *testing.T) {
	w := s.open(t)
	importConvs(t, w, day, conv("c1"), conv("c2", msg("c2", "m", 0, "user", "x", at(0))), conv("c3"))
	importConvs(t, w, otherDay, conv("c9"))
	for _, tc := range []struct {
		name string
		day  civil.Date
		want int64
	}{
		{"partition with conversations", day, 3},
		{"another partition", otherDay, 1},
		{"missing partition", civil.Date{Year: 2025, Month: time.March, Day: 1}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := w.CheckInput(context.Background(), tc.day)
			if err != nil {
				t.Fatalf("CheckInput(%s): %v", tc.day, err)
			}
			if info.Conversations != tc.want {
				t.Errorf("CheckInput(%s).Conversations = %d, want %d", tc.day, info.Conversations, tc.want)
			}
		})
	}
}

func (s suite) roundTrip(t *testing.T) {
	w := s.open(t)
	parents(t, w, day)
	ts := turnSet("r1")
	var gotOut worker.OutputInfo
	info, err := replace(context.Background(), w, day, "run-1", shuffled(ts), func(o worker.OutputInfo) error {
		gotOut = o
		return nil
	})
	if err != nil {
		t.Fatalf("ReplaceTurns: %v", err)
	}
	wantOut := worker.OutputInfo{Rows: 4, UnknownParents: 0}
	if diff := cmp.Diff(wantOut, gotOut, cmpopts.IgnoreFields(worker.OutputInfo{}, "Jobs")); diff != "" {
		t.Errorf("Check got (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantOut, info.Output, cmpopts.IgnoreFields(worker.OutputInfo{}, "Jobs")); diff != "" {
		t.Errorf("ReplaceInfo.Output (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(rows(day, "run-1", ts...), exportAll(t, w, day), rowOpts); diff != "" {
		t.Errorf("ExportTurns (-want +got):\n%s", diff)
	}
}

func (s suite) replaceAgain(t *testing.T) {
	w := s.open(t)
	parents(t, w, day)
	mustReplace(t, w, day, "run-1", turnSet("old"))
	next := turnSet("new")[1:3]
	mustReplace(t, w, day, "run-2", next)
	if diff := cmp.Diff(rows(day, "run-2", next...), exportAll(t, w, day), rowOpts); diff != "" {
		t.Errorf("ExportTurns after the second replacement (-want +got):\n%s", diff)
	}
	mustReplace(t, w, day, "run-3", nil)
	if got := exportAll(t, w, day); len(got) != 0 {
		t.Errorf("ExportTurns after replacing with nothing = %d rows, want 0", len(got))
	}
}

func (s suite) failedReplace(t *testing.T) {
	errProduce := errors.New("pairing failed")
	errCheck := errors.New("output check failed")
	for _, tc := range []struct {
		name string
		// replace runs the failing replacement.
		replace func(w Warehouse) error
		// is, when set, is an error the failure must wrap.
		is error
	}{
		{
			name: "Produce error after some turns",
			replace: func(w Warehouse) error {
				_, err := w.ReplaceTurns(context.Background(), worker.Replacement{
					Day: day, RunID: "run-2", CreatedAt: createdAt,
					Produce: func(ctx context.Context, put worker.Put) error {
						if err := produce(turnSet("new"))(ctx, put); err != nil {
							return err
						}
						return errProduce
					},
					Check: func(worker.OutputInfo) error { return nil },
				})
				return err
			},
			is: errProduce,
		},
		{
			name: "Check error",
			replace: func(w Warehouse) error {
				_, err := replace(context.Background(), w, day, "run-2", turnSet("new"), func(worker.OutputInfo) error { return errCheck })
				return err
			},
			is: errCheck,
		},
		{
			name: "context cancelled while producing",
			replace: func(w Warehouse) error {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				_, err := w.ReplaceTurns(ctx, worker.Replacement{
					Day: day, RunID: "run-2", CreatedAt: createdAt,
					Produce: func(ctx context.Context, put worker.Put) error {
						err := produce(turnSet("new"))(ctx, put)
						cancel()
						return err
					},
					Check: func(worker.OutputInfo) error { return nil },
				})
				return err
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := s.open(t)
			parents(t, w, day)
			old := turnSet("old")[:2]
			mustReplace(t, w, day, "run-1", old)

			err := tc.replace(w)
			if err == nil {
				t.Fatal("ReplaceTurns succeeded, want an error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("ReplaceTurns error = %v, want it to wrap %v", err, tc.is)
			}
			if diff := cmp.Diff(rows(day, "run-1", old...), exportAll(t, w, day), rowOpts); diff != "" {
				t.Errorf("partition after the failed replacement (-want +got):\n%s", diff)
			}
		})
	}
}

func (s suite) replaceOtherPartitions(t *testing.T) {
	w := s.open(t)
	parents(t, w, day)
	parents(t, w, otherDay)
	mustReplace(t, w, day, "run-1", turnSet("a"))
	kept := turnSet("b")[1:]
	mustReplace(t, w, otherDay, "run-2", kept)
	mustReplace(t, w, day, "run-3", turnSet("c")[:1])
	if diff := cmp.Diff(rows(otherDay, "run-2", kept...), exportAll(t, w, otherDay), rowOpts); diff != "" {
		t.Errorf("other partition after a replacement (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(rows(day, "run-3", turnSet("c")[:1]...), exportAll(t, w, day), rowOpts); diff != "" {
		t.Errorf("replaced partition (-want +got):\n%s", diff)
	}
}

func (s suite) unknownParents(t *testing.T) {
	w := s.open(t)
	importConvs(t, w, day, conv("c1"), conv("c2"))
	importConvs(t, w, otherDay, conv("elsewhere")) // a parent of another partition is still unknown
	ts := []turns.Turn{
		{TurnID: "t1", ParentID: "c1", UserMessageIDs: []string{"u"}},
		{TurnID: "t2", ParentID: "c2", UserMessageIDs: []string{"u"}},
		{TurnID: "t3", ParentID: "c2", TurnIndex: 1, UserMessageIDs: []string{"v"}},
		{TurnID: "t4", ParentID: "elsewhere", UserMessageIDs: []string{"u"}},
	}
	errUnknown := errors.New("unknown parents")
	var got worker.OutputInfo
	_, err := replace(context.Background(), w, day, "run-1", ts, func(o worker.OutputInfo) error {
		got = o
		if o.UnknownParents > 0 {
			return errUnknown
		}
		return nil
	})
	if !errors.Is(err, errUnknown) {
		t.Errorf("ReplaceTurns error = %v, want the check's %v", err, errUnknown)
	}
	want := worker.OutputInfo{Rows: 4, UnknownParents: 1}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(worker.OutputInfo{}, "Jobs")); diff != "" {
		t.Errorf("Check got (-want +got):\n%s", diff)
	}
	if n := len(exportAll(t, w, day)); n != 0 {
		t.Errorf("partition holds %d turns after the check failed, want 0", n)
	}
}

// produceReads pairs the way the worker does: Produce reads the partition
// from the same warehouse while the replacement is open.
func (s suite) produceReads(t *testing.T) {
	w := s.open(t)
	importConvs(t, w, day,
		conv("c1", msg("c1", "u1", 0, "user", "q", at(0)), msg("c1", "a1", 1, "assistant", "r", at(1))),
		conv("c2", msg("c2", "u2", 0, "user", "q2", at(2))),
	)
	mustReplace(t, w, day, "run-0", turnSet("old"))
	var written []turns.Turn
	_, err := w.ReplaceTurns(context.Background(), worker.Replacement{
		Day: day, RunID: "run-1", CreatedAt: createdAt,
		Produce: func(ctx context.Context, put worker.Put) error {
			_, err := w.ReadConversations(ctx, day, func(id string, msgs []turns.Message) error {
				tr := turns.Turn{TurnID: "turn-" + id, ParentID: id}
				for _, m := range msgs {
					tr.UserMessageIDs = append(tr.UserMessageIDs, m.MessageID)
				}
				written = append(written, tr)
				return put(&tr)
			})
			return err
		},
		Check: func(o worker.OutputInfo) error {
			if o.Rows != 2 {
				return errors.New("want 2 rows")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatalf("ReplaceTurns with a Produce that reads: %v", err)
	}
	if diff := cmp.Diff(rows(day, "run-1", written...), exportAll(t, w, day), rowOpts); diff != "" {
		t.Errorf("ExportTurns (-want +got):\n%s", diff)
	}
}

// concurrentReplacements replaces one partition twice at once, both
// writes open together where the warehouse allows it: each either succeeds
// or fails retryably, and the partition ends up holding exactly one of the
// two sets.
func (s suite) concurrentReplacements(t *testing.T) {
	for _, tc := range []struct {
		name string
		old  []turns.Turn
	}{
		{"empty partition", nil},
		{"partition with turns", turnSet("old")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := s.open(t)
			parents(t, w, day)
			if tc.old != nil {
				mustReplace(t, w, day, "run-0", tc.old)
			}
			sets := map[string][]turns.Turn{"run-a": turnSet("a"), "run-b": turnSet("b")[1:]}
			// Each Produce waits (briefly: a warehouse may serialise the
			// replacements) until the other one has started.
			var entered atomic.Int32
			both := make(chan struct{})
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				errs = map[string]error{}
			)
			for run, ts := range sets {
				wg.Go(func() {
					_, err := w.ReplaceTurns(context.Background(), worker.Replacement{
						Day: day, RunID: run, CreatedAt: createdAt,
						Produce: func(ctx context.Context, put worker.Put) error {
							if entered.Add(1) == 2 {
								close(both)
							}
							select {
							case <-both:
							case <-time.After(300 * time.Millisecond):
							}
							return produce(ts)(ctx, put)
						},
						Check: func(worker.OutputInfo) error { return nil },
					})
					mu.Lock()
					errs[run] = err
					mu.Unlock()
				})
			}
			wg.Wait()
			succeeded := 0
			for run, err := range errs {
				if err == nil {
					succeeded++
					continue
				}
				if worker.ClassOf(err) != worker.Retryable {
					t.Errorf("replacement %s failed permanently: %v", run, err)
				}
			}
			if succeeded == 0 {
				t.Fatalf("both replacements failed: %v", errs)
			}
			got := exportAll(t, w, day)
			if len(got) == 0 {
				t.Fatal("partition is empty after the replacements")
			}
			run := got[0].RunID
			if diff := cmp.Diff(rows(day, run, sets[run]...), got, rowOpts); diff != "" {
				t.Errorf("partition holds a mix (-want +got):\n%s", diff)
			}
		})
	}
}

func (s suite) importOtherPartitions(t *testing.T) {
	w := s.open(t)
	same := conv("c1", msg("c1", "m1", 0, "user", "other day", at(0)))
	importConvs(t, w, otherDay, same)
	mustReplace(t, w, otherDay, "run-1", turnSet("x")[:1])
	before, _ := readAll(t, w, otherDay)

	importConvs(t, w, day, conv("c1", msg("c1", "m9", 0, "user", "this day", at(0))))
	importConvs(t, w, day, conv("c1", msg("c1", "m8", 0, "user", "again", at(0))))

	after, _ := readAll(t, w, otherDay)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("other partition's conversations after imports (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(rows(otherDay, "run-1", turnSet("x")[:1]...), exportAll(t, w, otherDay), rowOpts); diff != "" {
		t.Errorf("turns after imports (-want +got):\n%s", diff)
	}
}

func (s suite) reimport(t *testing.T) {
	w := s.open(t)
	first := []ingest.Conversation{
		conv("c1", msg("c1", "m1", 0, "user", "v1", at(0)), msg("c1", "m2", 1, "assistant", "v1", at(1)), msg("c1", "m3", 2, "user", "v1", at(2))),
		conv("c2", msg("c2", "m1", 0, "user", "kept", at(0))),
	}
	importConvs(t, w, day, first...)

	// The same file again changes nothing.
	res := importConvs(t, w, day, first...)
	if diff := cmp.Diff(ingest.Result{Conversations: 2, Messages: 4, Replaced: 2}, res); diff != "" {
		t.Errorf("second import of the same file (-want +got):\n%s", diff)
	}
	got, _ := readAll(t, w, day)
	wantFirst := []conversation{
		{ID: "c1", Messages: wants(first[0].Messages...)},
		{ID: "c2", Messages: wants(first[1].Messages...)},
	}
	if diff := cmp.Diff(wantFirst, got); diff != "" {
		t.Errorf("partition after importing a file twice (-want +got):\n%s", diff)
	}

	// A new version of c1, and a new c3: m2 and m3 are gone, c2 stays.
	newC1 := conv("c1", msg("c1", "m1", 0, "user", "v2", at(5)), msg("c1", "m4", 1, "assistant", "v2", at(6)))
	c3 := conv("c3")
	res = importConvs(t, w, day, newC1, c3)
	if diff := cmp.Diff(ingest.Result{Conversations: 2, Messages: 2, Replaced: 1}, res); diff != "" {
		t.Errorf("import of a new version (-want +got):\n%s", diff)
	}
	got, _ = readAll(t, w, day)
	wantNext := []conversation{
		{ID: "c1", Messages: wants(newC1.Messages...)},
		{ID: "c2", Messages: wants(first[1].Messages...)},
		{ID: "c3", Messages: []turns.Message{}},
	}
	if diff := cmp.Diff(wantNext, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("partition after importing a new version (-want +got):\n%s", diff)
	}
	info, err := w.CheckInput(context.Background(), day)
	if err != nil {
		t.Fatalf("CheckInput: %v", err)
	}
	if info.Conversations != 3 {
		t.Errorf("CheckInput.Conversations = %d, want 3", info.Conversations)
	}
}

func (s suite) importMerge(t *testing.T) {
	w := s.open(t)
	res := importConvs(t, w, day,
		conv("c1", msg("c1", "m1", 0, "user", "part one", at(0))),
		conv("c2", msg("c2", "x", 0, "user", "other", at(0))),
		conv("c1", msg("c1", "m2", 1, "assistant", "part two", at(1))),
	)
	if diff := cmp.Diff(ingest.Result{Conversations: 2, Messages: 3}, res); diff != "" {
		t.Errorf("Import result (-want +got):\n%s", diff)
	}
	info, err := w.CheckInput(context.Background(), day)
	if err != nil {
		t.Fatalf("CheckInput: %v", err)
	}
	if info.Conversations != 2 {
		t.Errorf("CheckInput.Conversations = %d, want 2 (one row per conversation)", info.Conversations)
	}
	got, _ := readAll(t, w, day)
	wantConvs := []conversation{
		{ID: "c1", Messages: wants(msg("c1", "m1", 0, "user", "part one", at(0)), msg("c1", "m2", 1, "assistant", "part two", at(1)))},
		{ID: "c2", Messages: wants(msg("c2", "x", 0, "user", "other", at(0)))},
	}
	if diff := cmp.Diff(wantConvs, got); diff != "" {
		t.Errorf("ReadConversations (-want +got):\n%s", diff)
	}
}

func (s suite) failedImport(t *testing.T) {
	w := s.open(t)
	old := []ingest.Conversation{conv("c1", msg("c1", "m1", 0, "user", "old", at(0))), conv("c2")}
	importConvs(t, w, day, old...)
	before, _ := readAll(t, w, day)

	errBroken := errors.New("line 3: invalid JSON")
	r := reader(
		conv("c1", msg("c1", "m1", 0, "user", "new", at(1))),
		conv("c3", msg("c3", "m1", 0, "user", "new", at(1))),
	)
	r.failAt, r.err = 2, errBroken
	_, err := w.Import(context.Background(), day, "run-broken", r)
	if !errors.Is(err, errBroken) {
		t.Errorf("Import error = %v, want it to wrap the reader's %v", err, errBroken)
	}
	after, _ := readAll(t, w, day)
	if diff := cmp.Diff(before, after, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("partition after a failed import (-want +got):\n%s", diff)
	}
	info, err := w.CheckInput(context.Background(), day)
	if err != nil {
		t.Fatalf("CheckInput: %v", err)
	}
	if info.Conversations != 2 {
		t.Errorf("CheckInput.Conversations = %d, want 2", info.Conversations)
	}
}
