package duckdb

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/turnstile-dev/turnstile/internal/turns"
	"github.com/turnstile-dev/turnstile/worker"
)

// TestStoredLists pins how the list columns are stored: an empty list is
// stored as [], never as NULL, whether or not it comes first in the write.
func TestStoredLists(t *testing.T) {
	w := openTest(t, Options{}, false)
	mustReplace(t, w, day, []turns.Turn{
		{TurnID: "t0", ParentID: "p"},
		{TurnID: "t1", ParentID: "p", TurnIndex: 1, UserMessageIDs: []string{"u1", "u2"}},
		{TurnID: "t2", ParentID: "p", TurnIndex: 2, ResponseMessageIDs: []string{"a1"}},
		{TurnID: "t3", ParentID: "p", TurnIndex: 3, UserMessageIDs: []string{}, ResponseMessageIDs: []string{"", "a,2", "[a3]"}},
		{TurnID: "t4", ParentID: "p", TurnIndex: 4},
	})
	rows, err := w.db.Query(`SELECT turn_id, user_message_ids IS NULL, response_message_ids IS NULL,
		CAST(to_json(user_message_ids) AS VARCHAR), CAST(to_json(response_message_ids) AS VARCHAR)
		FROM turns ORDER BY turn_index`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type stored struct {
		TurnID                   string
		UsersNull, ResponsesNull bool
		Users, Responses         string
	}
	var got []stored
	for rows.Next() {
		var s stored
		if err := rows.Scan(&s.TurnID, &s.UsersNull, &s.ResponsesNull, &s.Users, &s.Responses); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []stored{
		{"t0", false, false, `[]`, `[]`},
		{"t1", false, false, `["u1","u2"]`, `[]`},
		{"t2", false, false, `[]`, `["a1"]`},
		{"t3", false, false, `[]`, `["","a,2","[a3]"]`},
		{"t4", false, false, `[]`, `[]`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored lists (-want +got):\n%s", diff)
	}
}

// TestAppendMetadata checks that appendMetadata writes what json.Marshal
// writes, over edge values and random ones.
func TestAppendMetadata(t *testing.T) {
	edges := []int{0, 1, -1, 9, 10, 99, 100, math.MaxInt32, math.MinInt32, math.MaxInt, math.MinInt}
	var ms []turns.Metadata
	for i, e := range edges {
		ms = append(ms, turns.Metadata{
			UserMessages: e, AssistantMessages: edges[(i+1)%len(edges)], ToolMessages: edges[(i+2)%len(edges)],
			SystemMessages: edges[(i+3)%len(edges)], UserChars: edges[(i+4)%len(edges)],
			ResponseChars: edges[(i+5)%len(edges)], AssistantInitiated: i%2 == 0,
		})
	}
	r := rand.New(rand.NewPCG(1, 2))
	small := func() int { return r.IntN(1000) }
	for range 10_000 {
		ms = append(ms, turns.Metadata{
			UserMessages: small(), AssistantMessages: small(), ToolMessages: small(), SystemMessages: small(),
			UserChars: int(r.Int64()), ResponseChars: int(r.Int64()) - math.MaxInt64/2, AssistantInitiated: r.IntN(2) == 0,
		})
	}
	buf := []byte("stale")
	for _, m := range ms {
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		buf = appendMetadata(buf[:0], &m)
		if diff := cmp.Diff(string(want), string(buf)); diff != "" {
			t.Fatalf("appendMetadata(%+v) (-want +got):\n%s", m, diff)
		}
	}
}

// TestListIDWithSeparatorIsRejected: a message id holding U+001F, which the
// list encoding uses, fails the write as bad input (it would come back
// split in two) and leaves the partition as it was.
func TestListIDWithSeparatorIsRejected(t *testing.T) {
	w := openTest(t, Options{}, false)
	mustReplace(t, w, day, []turns.Turn{{TurnID: "old", ParentID: "p"}})
	_, err := w.ReplaceTurns(context.Background(), worker.Replacement{
		Day: day, RunID: "run", CreatedAt: time.Now(),
		Produce: func(_ context.Context, put worker.Put) error {
			return put(&turns.Turn{TurnID: "t0", ParentID: "p", UserMessageIDs: []string{"u1"}, ResponseMessageIDs: []string{"a\x1fb"}})
		},
		Check: func(worker.OutputInfo) error { return nil },
	})
	if err == nil || worker.ClassOf(err) != worker.Permanent || !strings.Contains(err.Error(), "U+001F") {
		t.Fatalf("ReplaceTurns: error %v, want a permanent error naming U+001F", err)
	}
	if n := countExported(t, w, day); n != 1 {
		t.Errorf("partition holds %d turns after the failed write, want the 1 it had", n)
	}
}
