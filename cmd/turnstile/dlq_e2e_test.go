package main

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"

	"github.com/turnstile-dev/turnstile/internal/events"
	"github.com/turnstile-dev/turnstile/internal/testutil"
)

// dlqList runs `turnstile dlq list --json` and decodes its lines.
func dlqList(tb testing.TB, db string) []map[string]any {
	tb.Helper()
	out := mustRun(tb, db, "dlq", "list", "--json", "--quiet-period", "1s")
	var entries []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			tb.Fatalf("dlq list line is not JSON: %v\n%s", err, sc.Text())
		}
		entries = append(entries, e)
	}
	return entries
}

// TestDLQOperatorFlow is what an operator does after a partition was late:
// the event is dead-lettered after its delivery attempts, `dlq list` shows
// it with its reason (twice, without consuming it), the partition is
// imported, `dlq replay` sends the event back, the running worker processes
// it, and the dead-letter subscription ends empty.
func TestDLQOperatorFlow(t *testing.T) {
	s := newStack(t)
	s.setUp(t)
	out := s.watch(t)
	srv := startServe(t)
	const day = "2026-01-27"
	data, attrs, err := events.Stage5{RunID: "run-late", PartitionDate: civil.Date{Year: 2026, Month: 1, Day: 27}}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	s.publishRaw(t, data, attrs)
	testutil.WaitFor(t, 60*time.Second, "the event to be dead-lettered", func() bool {
		return countOutcome(srv.logs.String(), "dead_lettered") == 1
	})

	for range 2 { // listing does not consume
		entries := dlqList(t, s.db)
		if len(entries) != 1 {
			t.Fatalf("dlq list shows %d events, want 1: %v", len(entries), entries)
		}
		e := entries[0]
		if e["partition"] != day || e["run_id"] != "run-late" || e["error_class"] != "retryable" || e["step"] != "check_input" {
			t.Errorf("dlq list entry %v: want partition %s, run-late, retryable, check_input", e, day)
		}
		if msg, _ := e["error"].(string); !strings.Contains(msg, "not ready") {
			t.Errorf("dlq list reason %q does not say the partition was not ready", msg)
		}
	}

	// A dry run changes nothing.
	mustRun(t, s.db, "dlq", "replay", "--dry-run", "--quiet-period", "1s")
	if n := len(dlqList(t, s.db)); n != 1 {
		t.Fatalf("after a dry run the dead-letter subscription holds %d events, want 1", n)
	}

	mustRun(t, s.db, "generate", "--partition", day, "--conversations", "40", "--seed", "5")
	mustRun(t, s.db, "dlq", "replay", "--quiet-period", "1s")
	e := stage6(t, s.receive(t, out, 1, 60*time.Second)[0])
	if e.RunID != "run-late" || e.PartitionDate.String() != day {
		t.Errorf("stage6.complete for run %s partition %s, want run-late %s", e.RunID, e.PartitionDate, day)
	}
	checkTurns(t, exportRows(t, s.db, day), e)
	if n := len(dlqList(t, s.db)); n != 0 {
		t.Errorf("after the replay the dead-letter subscription holds %d events, want 0", n)
	}
	if err := srv.stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
}
