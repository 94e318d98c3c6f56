package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const datasets = "../../../shared/datasets"

// runCLI runs the turnstile command in-process against the DuckDB file at
// db and returns its standard output.
func runCLI(tb testing.TB, db string, args ...string) (string, error) {
	tb.Helper()
	tb.Setenv("TURNSTILE_WAREHOUSE", "duckdb")
	tb.Setenv("TURNSTILE_DUCKDB_PATH", db)
	tb.Setenv("TURNSTILE_LOG_LEVEL", "warn")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	if err != nil && stderr.Len() > 0 {
		tb.Logf("turnstile %s: stderr:\n%s", strings.Join(args, " "), stderr.String())
	}
	return stdout.String(), err
}

func mustRun(tb testing.TB, db string, args ...string) string {
	tb.Helper()
	out, err := runCLI(tb, db, args...)
	if err != nil {
		tb.Fatalf("turnstile %s: %v", strings.Join(args, " "), err)
	}
	return out
}

type summary struct {
	Conversations     int64  `json:"conversations"`
	SessionsProcessed int64  `json:"sessions_processed"`
	MessagesRead      int64  `json:"messages_read"`
	TurnsCreated      int64  `json:"turns_created"`
	CompleteTurns     int64  `json:"complete_turns"`
	Duplicates        int64  `json:"duplicate_messages"`
	UnknownRole       int64  `json:"unknown_role_messages"`
	Orphans           int64  `json:"orphan_messages"`
	Empty             int64  `json:"empty_conversations"`
	RunID             string `json:"run_id"`
}

func decodeSummary(tb testing.TB, out string) summary {
	tb.Helper()
	var s summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		tb.Fatalf("summary is not JSON: %v\n%s", err, out)
	}
	return s
}

// exportRows exports a partition and decodes every line.
func exportRows(tb testing.TB, db, partition string) []map[string]any {
	tb.Helper()
	out := mustRun(tb, db, "export", "--partition", partition)
	var rows []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			tb.Fatalf("export line is not JSON: %v\n%s", err, sc.Text())
		}
		rows = append(rows, r)
	}
	return rows
}

func needDatasets(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(datasets); err != nil {
		tb.Skipf("datasets not found at %s (the shared folder beside the project): %v", datasets, err)
	}
}

// TestDatasetsEndToEnd runs import -> process -> export on each real data
// set and checks the figures against each other and the export.
func TestDatasetsEndToEnd(t *testing.T) {
	needDatasets(t)
	cases := []struct {
		format, file  string
		conversations int64
		messages      int64
	}{
		{"sharegpt", "sharegpt/fastchat_dummy.json", 500, 2000},
		{"sharegpt", "sharegpt/glaive_toolcall_en.json", 300, 1914},
		{"sharegpt", "sharegpt/glaive_toolcall_zh.json", 300, 1880},
		{"openai", "openai/taubench_airline.jsonl", 200, 5308},
	}
	for _, tc := range cases {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "t.duckdb")
			const part = "2026-01-22"
			mustRun(t, db, "import", "--format", tc.format, "--partition", part, filepath.Join(datasets, tc.file))

			dry := decodeSummary(t, mustRun(t, db, "process", "--partition", part, "--dry-run"))
			s := decodeSummary(t, mustRun(t, db, "process", "--partition", part, "--run-id", "run-a",
				"--expect-conversations", strconv.FormatInt(tc.conversations, 10)))
			if s.Conversations != tc.conversations || s.MessagesRead != tc.messages {
				t.Errorf("conversations, messages = %d, %d; want %d, %d", s.Conversations, s.MessagesRead, tc.conversations, tc.messages)
			}
			if s.TurnsCreated == 0 || s.SessionsProcessed == 0 || s.CompleteTurns > s.TurnsCreated {
				t.Errorf("implausible summary %+v", s)
			}
			dry.RunID = s.RunID
			if dry != s {
				t.Errorf("dry run reported %+v, the real run %+v", dry, s)
			}

			rows := exportRows(t, db, part)
			if int64(len(rows)) != s.TurnsCreated {
				t.Fatalf("export has %d rows, summary says %d turns", len(rows), s.TurnsCreated)
			}
			parents := map[string]bool{}
			var complete int64
			for i, r := range rows {
				if r["run_id"] != "run-a" || r["ingestion_date"] != part {
					t.Fatalf("row %d: run_id %v ingestion_date %v", i, r["run_id"], r["ingestion_date"])
				}
				if _, ok := r["metadata"].(map[string]any); !ok {
					t.Fatalf("row %d: metadata is not an object: %v", i, r["metadata"])
				}
				if r["is_complete"] == true {
					complete++
				}
				parents[r["parent_id"].(string)] = true
				if i > 0 {
					prev := rows[i-1]
					if prev["parent_id"].(string) > r["parent_id"].(string) ||
						prev["parent_id"] == r["parent_id"] && prev["turn_index"].(float64)+1 != r["turn_index"].(float64) {
						t.Fatalf("rows %d and %d out of order", i-1, i)
					}
				}
			}
			if complete != s.CompleteTurns || int64(len(parents)) != s.SessionsProcessed {
				t.Errorf("export: %d complete, %d parents; summary: %d, %d", complete, len(parents), s.CompleteTurns, s.SessionsProcessed)
			}

			// Processing again gives the same turns (but created_at and
			// run_id) and the same row count.
			mustRun(t, db, "process", "--partition", part, "--run-id", "run-b")
			again := exportRows(t, db, part)
			strip := func(rs []map[string]any) []map[string]any {
				for _, r := range rs {
					delete(r, "created_at")
					delete(r, "run_id")
				}
				return rs
			}
			if diff := cmp.Diff(strip(rows), strip(again)); diff != "" {
				t.Errorf("second run changed the turns (-first +second):\n%s", diff)
			}
		})
	}
}

// TestImportTwiceAndShare: two files share a partition, and importing a
// file again changes nothing.
func TestImportTwiceAndShare(t *testing.T) {
	needDatasets(t)
	db := filepath.Join(t.TempDir(), "t.duckdb")
	const part = "2026-01-22"
	fast := filepath.Join(datasets, "sharegpt/fastchat_dummy.json")
	tau := filepath.Join(datasets, "openai/taubench_airline.jsonl")
	mustRun(t, db, "import", "--format", "sharegpt", "--partition", part, fast)
	mustRun(t, db, "import", "--format", "openai", "--partition", part, "--source", "tau", tau)
	first := decodeSummary(t, mustRun(t, db, "process", "--partition", part, "--run-id", "r1"))
	mustRun(t, db, "import", "--format", "sharegpt", "--partition", part, fast)
	second := decodeSummary(t, mustRun(t, db, "process", "--partition", part, "--run-id", "r1"))
	if first.Conversations != 700 || first.MessagesRead != 7308 {
		t.Errorf("shared partition: %d conversations, %d messages; want 700, 7308", first.Conversations, first.MessagesRead)
	}
	if first != second {
		t.Errorf("re-import changed the partition: %+v then %+v", first, second)
	}
}

// TestFailedRunKeepsPreviousTurns: a run that fails its input check leaves
// the partition's turns as they were, and the error names step, partition
// and run.
func TestFailedRunKeepsPreviousTurns(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.duckdb")
	const part = "2026-01-23"
	mustRun(t, db, "generate", "--partition", part, "--conversations", "200", "--seed", "3")
	mustRun(t, db, "process", "--partition", part, "--run-id", "good")
	before := exportRows(t, db, part)
	_, err := runCLI(t, db, "process", "--partition", part, "--run-id", "bad", "--expect-conversations", "201")
	if err == nil {
		t.Fatal("process with a wrong --expect-conversations succeeded")
	}
	for _, want := range []string{"check_input", part, "bad", "retryable", "holds 200 conversations"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if diff := cmp.Diff(before, exportRows(t, db, part)); diff != "" {
		t.Errorf("failed run changed the partition (-before +after):\n%s", diff)
	}
}

func TestBadInput(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.duckdb")
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := os.WriteFile(bad, []byte("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n{\"messages\": [1]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := runCLI(t, db, "import", "--format", "openai", "--partition", "2026-01-22", bad)
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("import of a malformed file: error %v, want one naming line 2", err)
	}
	out, err := runCLI(t, db, "process", "--partition", "2026-01-22", "--dry-run")
	if err == nil {
		t.Errorf("the malformed file's first conversation was stored: %s", out)
	}
	for _, args := range [][]string{
		{"process"},
		{"process", "--partition", "2026-02-30"},
		{"import", "--partition", "2026-01-22", bad},
		{"frobnicate"},
	} {
		if _, err := runCLI(t, db, args...); err != errUsage {
			t.Errorf("turnstile %v: error %v, want a usage error", args, err)
		}
	}
}
