package duckdb

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"github.com/google/go-cmp/cmp"

	"github.com/turnstile-dev/turnstile/internal/ingest"
	"github.com/turnstile-dev/turnstile/internal/turns"
)

type readConv struct {
	ID   string
	Msgs []turns.Message
}

func readAll(tb testing.TB, w *Warehouse, d civil.Date) []readConv {
	tb.Helper()
	var got []readConv
	_, err := w.ReadConversations(context.Background(), d, func(id string, msgs []turns.Message) error {
		got = append(got, readConv{id, append([]turns.Message(nil), msgs...)})
		return nil
	})
	if err != nil {
		tb.Fatalf("ReadConversations: %v", err)
	}
	return got
}

// TestReadBatchesAgree reads one partition in batches of every size, from
// one conversation per batch to one batch for all: the result must not
// depend on where the batches are cut.
func TestReadBatchesAgree(t *testing.T) {
	w := openTest(t, Options{}, false)
	rng := rand.New(rand.NewPCG(1, 2))
	var convs []ingest.Conversation
	for c := range 200 {
		id := fmt.Sprintf("conv-%03d", rng.IntN(1000)) // some ids repeat: merged
		conv := ingest.Conversation{ConversationID: id, Source: "s"}
		for m := range rng.IntN(12) { // some conversations have no message
			row := ingest.MessageRow{
				// Unique ids: rows that tie on every sort key have no defined order.
				MessageID: fmt.Sprintf("m%d-%d-%d", rng.IntN(8), c, m),
				Seq:       int64(rng.IntN(4)), HasSeq: rng.IntN(5) > 0,
				Role: "user", HasRole: true,
				Content: fmt.Sprintf("%d/%d %s", c, m, string(make([]byte, rng.IntN(300)))), HasContent: true,
			}
			if rng.IntN(3) > 0 {
				row.CreatedAt = time.Unix(int64(rng.IntN(5)), 0)
			}
			conv.Messages = append(conv.Messages, row)
		}
		convs = append(convs, conv)
	}
	if _, err := w.Import(context.Background(), day, "run", &sliceReader{convs: convs}); err != nil {
		t.Fatal(err)
	}

	w.readBatchBytes = 1 << 40
	want := readAll(t, w, day)
	if len(want) < 150 {
		t.Fatalf("fixture has %d conversations, want at least 150", len(want))
	}
	for _, size := range []int64{1, 500, 5000, 50000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			w.readBatchBytes = size
			if diff := cmp.Diff(want, readAll(t, w, day)); diff != "" {
				t.Errorf("read in batches of %d bytes (-one batch +batches):\n%s", size, diff)
			}
		})
	}
}

func TestExportBatchesAgree(t *testing.T) {
	w := openTest(t, Options{}, false)
	var ts []turns.Turn
	for c := range 50 {
		for i := range c % 4 {
			ts = append(ts, turns.Turn{
				TurnID: fmt.Sprintf("t-%d-%d", c, i), ParentID: fmt.Sprintf("p%02d", (c*7)%50), TurnIndex: int64(i),
				UserText: string(make([]byte, c*10)), UserMessageIDs: []string{"u"},
			})
		}
	}
	mustReplace(t, w, day, ts)
	export := func() []turns.Row {
		var got []turns.Row
		if err := w.ExportTurns(context.Background(), day, func(r *turns.Row) error {
			got = append(got, *r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	w.readBatchBytes = 1 << 40
	want := export()
	if len(want) != len(ts) {
		t.Fatalf("exported %d turns, want %d", len(want), len(ts))
	}
	for _, size := range []int64{1, 300, 3000} {
		w.readBatchBytes = size
		if diff := cmp.Diff(want, export()); diff != "" {
			t.Errorf("export in batches of %d bytes (-one batch +batches):\n%s", size, diff)
		}
	}
}

func TestBatchBounds(t *testing.T) {
	w := openTest(t, Options{}, true)
	weights := `SELECT * FROM (VALUES ('d', 1), ('a', 5), ('c', 20), ('b', 5), ('e', 9)) v(k, b)`
	for _, tc := range []struct {
		name  string
		batch int64
		want  []string
	}{
		// Running sums in key order: a 5, b 10, c 30, d 31, e 40.
		{"one byte", 1, []string{"a", "b", "c", "d", "e"}},
		{"ten bytes", 10, []string{"a", "b", "d", "e"}},
		{"twenty bytes", 20, []string{"b", "d", "e"}},
		{"all in one", 1000, []string{"e"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.readBatchBytes = tc.batch
			tx, err := w.db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			got, err := w.batchBounds(context.Background(), tx, weights)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("bounds (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLargeReadIsOrdered reads a partition whose one batch is a sorted
// result of many DuckDB chunks and sort runs. With
// preserve_insertion_order=false the bundled DuckDB returns such a result
// as two sorted runs one after the other, which splits conversations.
func TestLargeReadIsOrdered(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 300,000 messages")
	}
	w := openTest(t, Options{}, false)
	w.readBatchBytes = 1 << 40 // one batch
	const convs, per = 30000, 10
	fillPartition(t, w, day, convs, per, 0)
	var prev string
	var n, bad int
	_, err := w.ReadConversations(context.Background(), day, func(id string, msgs []turns.Message) error {
		if n > 0 && id <= prev {
			bad++
		}
		prev = id
		n++
		if len(msgs) != per {
			bad++
		}
		for i := 1; i < len(msgs); i++ {
			if msgs[i-1].HasSeq && msgs[i].HasSeq && msgs[i-1].Seq > msgs[i].Seq || !msgs[i-1].HasSeq && msgs[i].HasSeq {
				bad++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != convs || bad != 0 {
		t.Errorf("read %d conversations with %d out of order or split, want %d in order", n, bad, convs)
	}
}

// fillPartition writes convs conversations of per messages each straight
// into the tables, in random row order, with content of about
// contentBytes (0: empty) and some NULL seqs.
func fillPartition(tb testing.TB, w *Warehouse, d civil.Date, convs, per, contentBytes int) {
	tb.Helper()
	content := "''"
	if contentBytes > 0 {
		// Lengths vary between half and one and a half times contentBytes.
		content = fmt.Sprintf("repeat('lorem ipsum ', %d + CAST(hash(i) %% %d AS INTEGER))", max(contentBytes/24, 1), max(contentBytes/12, 1))
	}
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO conversations
			SELECT 'conv-' || lpad(CAST(i AS VARCHAR), 9, '0'), 'synthetic', NULL, NULL, %[1]d, NULL,
			       CAST(? AS DATE), now(), 'fill'
			FROM range(%[2]d) t(i)`, per, convs),
		fmt.Sprintf(`INSERT INTO messages
			SELECT 'm-' || lpad(CAST(i %% %[1]d AS VARCHAR), 5, '0'), 'conv-' || lpad(CAST(i // %[1]d AS VARCHAR), 9, '0'),
			       CASE WHEN i %% 7 = 0 THEN NULL ELSE %[1]d - i %% %[1]d END,
			       CASE WHEN i %% 2 = 0 THEN 'user' ELSE 'assistant' END, %[3]s,
			       TIMESTAMPTZ '2026-01-22 00:00:00+00' + to_seconds(i), NULL, CAST(? AS DATE)
			FROM range(%[2]d) t(i) ORDER BY hash(i)`, per, convs*per, content),
	} {
		if _, err := w.db.Exec(q, d.String()); err != nil {
			tb.Fatalf("fill partition: %v", err)
		}
	}
}

// TestReadCancelled checks that a read stops soon after its context is
// cancelled, within a batch, and returns the context's error.
func TestReadCancelled(t *testing.T) {
	w := openTest(t, Options{}, false)
	const convs, per = 2000, 5
	fillPartition(t, w, day, convs, per, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	_, err := w.ReadConversations(ctx, day, func(string, []turns.Message) error {
		calls++
		if calls == 1 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadConversations returned %v, want an error wrapping %v", err, context.Canceled)
	}
	if limit := 1 + ctxCheckRows/per + 1; calls > limit {
		t.Errorf("fn called %d times after cancelling, want at most %d", calls, limit)
	}
}
