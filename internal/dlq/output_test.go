package dlq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func sampleEntries() []Entry {
	return []Entry{
		{
			MessageID: "101", SourceMessageID: "41", Partition: "2026-01-22", RunID: "run-1", ErrorClass: "permanent",
			Error: "invalid stage5.complete event:\tmalformed JSON\nat byte 80", Step: "decode", DeliveryCount: 1,
			PublishTime: published, FailedAt: published.Add(-time.Second),
		},
		{
			MessageID: "102", Partition: "2026-01-23", RunID: "run-2", ErrorClass: ClassUnknown,
			Error: strings.Repeat("é", 300), DeliveryCount: 5, PublishTime: published.Add(time.Minute),
			ReplayCount: 2, ReplayedAt: published.Add(-time.Hour),
		},
		{MessageID: "103", ErrorClass: ClassUnknown, PublishTime: published.Add(2 * time.Minute)},
	}
}

func TestWriteTable(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	entries := sampleEntries()
	if err := WriteTable(&buf, entries); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != 1+len(entries) {
		t.Fatalf("table has %d lines, want a header and %d rows:\n%s", len(lines), len(entries), buf.String())
	}
	header := strings.Fields(lines[0])
	wantHeader := []string{"MESSAGE", "ID", "PARTITION", "RUN", "ID", "CLASS", "STEP", "DELIVERIES", "DEAD-LETTERED", "REPLAYS", "ERROR"}
	if diff := cmp.Diff(wantHeader, header); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	// Columns line up: the ERROR column starts at the same offset in each row.
	col := strings.Index(lines[0], "ERROR")
	for i, e := range entries {
		row := lines[i+1]
		fields := strings.Fields(row[:col])
		want := []string{e.MessageID, cell(e.Partition), cell(e.RunID), e.ErrorClass, cell(e.Step), count(e.DeliveryCount),
			e.PublishTime.Format(time.RFC3339), []string{"0", "2", "0"}[i]}
		if diff := cmp.Diff(want, fields); diff != "" {
			t.Errorf("row %d columns (-want +got):\n%s", i, diff)
		}
		errCell := row[col:]
		switch i {
		case 0:
			if errCell != "invalid stage5.complete event: malformed JSON at byte 80" {
				t.Errorf("row 0 error cell %q, want the error on one line", errCell)
			}
		case 1:
			if n := utf8.RuneCountInString(errCell); n != maxErrorCell || !strings.HasSuffix(errCell, "…") {
				t.Errorf("row 1 error cell has %d characters ending %q, want %d ending with an ellipsis", n, errCell[len(errCell)-3:], maxErrorCell)
			}
		case 2:
			if errCell != "-" {
				t.Errorf("row 2 error cell %q, want -", errCell)
			}
		}
	}
}

func TestWriteJSONLinesRoundTrip(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	entries := sampleEntries()
	if err := WriteJSONLines(&buf, entries); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != len(entries) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(entries), buf.String())
	}
	var got []Entry
	for _, line := range lines {
		var e Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		got = append(got, e)
	}
	if diff := cmp.Diff(entries, got); diff != "" {
		t.Errorf("decoded entries (-want +got):\n%s", diff)
	}
	// Zero times are left out rather than written as year 1.
	var raw map[string]any
	if err := json.Unmarshal([]byte(lines[2]), &raw); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"failed_at", "replayed_at"} {
		if _, ok := raw[key]; ok {
			t.Errorf("line %s has %s, want it omitted when unknown", lines[2], key)
		}
	}
}

func TestWriteResults(t *testing.T) {
	t.Parallel()
	entries := sampleEntries()
	results := []Result{
		{Entry: entries[0], Outcome: Replayed, ReplayMessageID: "900"},
		{Entry: entries[1], Outcome: Skipped, Reason: "replayed 2 times already, the limit is 2; force to replay it again"},
	}
	var buf bytes.Buffer
	if err := WriteResults(&buf, results); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.String())
	}
	for i, want := range []string{"republished as 900", "force to replay it again"} {
		if !strings.HasSuffix(lines[i+1], want) || !strings.Contains(lines[i+1], string(results[i].Outcome)) {
			t.Errorf("row %d = %q, want outcome %s and detail %q", i, lines[i+1], results[i].Outcome, want)
		}
	}
}

func TestPacer(t *testing.T) {
	t.Parallel()
	p := newPacer(50) // one every 20ms
	start := time.Now()
	for range 4 {
		if err := p.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("4 waits at 50 per second took %s, want at least 60ms", d)
	}

	ctx, cancel := context.WithCancel(context.Background())
	slow := newPacer(0.01)
	if err := slow.wait(ctx); err != nil {
		t.Fatalf("first wait: %v", err)
	}
	cancel()
	if err := slow.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("wait after cancel = %v, want context.Canceled", err)
	}

	unlimited := newPacer(0)
	start = time.Now()
	for range 1000 {
		_ = unlimited.wait(context.Background())
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("1000 unlimited waits took %s", d)
	}
}

func TestSummaryStrings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		got  string
		want string
	}{
		{
			name: "replay",
			got:  ReplaySummary{Scanned: 9, Stop: StopQuiet, Matched: 5, Replayed: 3, Skipped: 1, Failed: 1}.String(),
			want: "matched 5 of 9 dead letters: replayed 3, skipped 1, failed 1, not attempted 0",
		},
		{
			name: "replay dry run cut short",
			got:  ReplaySummary{DryRun: true, Scanned: 10, Stop: StopMaxMessages, Matched: 4, WouldReplay: 3, Skipped: 1}.String(),
			want: "dry run: matched 4 of 10 dead letters: would replay 3, skipped 1 (the scan stopped at its max messages bound: more dead letters may remain)",
		},
		{
			name: "drop",
			got:  DropSummary{Scanned: 7, Stop: StopLimit, Matched: 2, Dropped: 2}.String(),
			want: "matched 2 of 7 dead letters: dropped 2, failed 0",
		},
		{
			name: "drop without yes, timed out",
			got:  DropSummary{DryRun: true, Scanned: 7, Stop: StopTimeout, Matched: 2, WouldDrop: 2}.String(),
			want: "dry run: matched 2 of 7 dead letters: would drop 2 (confirm to drop them) (the scan stopped at its timeout bound: more dead letters may remain)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.got != tc.want {
				t.Errorf("String() =\n%s\nwant\n%s", tc.got, tc.want)
			}
		})
	}
}
