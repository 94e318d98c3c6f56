package bigquery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bq "google.golang.org/api/bigquery/v2"

	"github.com/turnstile-dev/turnstile/internal/turns"
	"github.com/turnstile-dev/turnstile/worker"
)

const testRun = "run-20260122-a1"

func sampleTurns() []turns.Turn {
	return []turns.Turn{
		{
			TurnID: "l6_a", ParentID: "c1", TurnIndex: 0,
			UserMessageIDs: []string{"m1"}, ResponseMessageIDs: []string{"m2", "m3"},
			UserText: "hi", ResponseText: "hello",
			StartedAt:         time.Date(2026, 1, 22, 8, 0, 0, 123456789, time.UTC),
			EndedAt:           time.Date(2026, 1, 22, 9, 0, 5, 0, time.FixedZone("CET", 3600)),
			ResponseLatencyMS: 5000, HasLatency: true, IsComplete: true,
			Metadata: turns.Metadata{UserMessages: 1, AssistantMessages: 1, ToolMessages: 1, UserChars: 2, ResponseChars: 5},
		},
		{
			TurnID: "l6_b", ParentID: "c1", TurnIndex: 1,
			UserMessageIDs: []string{"m4"},
			UserText:       "more <b> & \"quotes\"\nline",
			Metadata:       turns.Metadata{UserMessages: 1, SystemMessages: 2, UserChars: 22},
		},
	}
}

// wantLines are sampleTurns as BigQuery must receive them in the load file.
func wantLines() []map[string]any {
	return []map[string]any{
		{
			"turn_id": "l6_a", "parent_id": "c1", "turn_index": 0.0,
			"user_message_ids": []any{"m1"}, "response_message_ids": []any{"m2", "m3"},
			"user_text": "hi", "response_text": "hello",
			"started_at": "2026-01-22T08:00:00.123456Z", "ended_at": "2026-01-22T08:00:05.000000Z",
			"response_latency_ms": 5000.0, "is_complete": true,
			"metadata": map[string]any{"user_messages": 1.0, "assistant_messages": 1.0, "tool_messages": 1.0,
				"system_messages": 0.0, "user_chars": 2.0, "response_chars": 5.0, "assistant_initiated": false},
			"ingestion_date": "2026-01-22", "created_at": "2026-01-22T12:00:00.000000Z", "run_id": testRun,
		},
		{
			"turn_id": "l6_b", "parent_id": "c1", "turn_index": 1.0,
			"user_message_ids": []any{"m4"}, "response_message_ids": []any{},
			"user_text": "more <b> & \"quotes\"\nline", "response_text": "",
			"started_at": nil, "ended_at": nil,
			"response_latency_ms": nil, "is_complete": false,
			"metadata": map[string]any{"user_messages": 1.0, "assistant_messages": 0.0, "tool_messages": 0.0,
				"system_messages": 2.0, "user_chars": 22.0, "response_chars": 0.0, "assistant_initiated": false},
			"ingestion_date": "2026-01-22", "created_at": "2026-01-22T12:00:00.000000Z", "run_id": testRun,
		},
	}
}

// replacement is a Replacement of ts for testDay and run; it counts the
// calls of Produce and the turns put, and records what Check saw.
type replacement struct {
	worker.Replacement
	produced int
	put      int
	checked  []worker.OutputInfo
}

func newReplacement(run string, ts []turns.Turn) *replacement {
	r := &replacement{}
	r.Replacement = worker.Replacement{
		Day: testDay, RunID: run, CreatedAt: testNow,
		Produce: func(ctx context.Context, put worker.Put) error {
			r.produced++
			for i := range ts {
				if err := put(&ts[i]); err != nil {
					return err
				}
				r.put++
			}
			return nil
		},
		Check: func(o worker.OutputInfo) error {
			r.checked = append(r.checked, o)
			return nil
		},
	}
	return r
}

// outputSchema is the output check's result schema.
var outputSchema = fields("turn_rows:INTEGER", "unknown_parents:INTEGER")

// replaceHook answers the output check with rows and unknown parents.
func replaceHook(rows, unknown int) func(q *bq.JobConfigurationQuery) queryOutcome {
	return func(q *bq.JobConfigurationQuery) queryOutcome {
		if strings.Contains(q.Query, "turn_rows") {
			return queryOutcome{Schema: outputSchema, Rows: []*bq.TableRow{cells(rows, unknown)}, Bytes: 77}
		}
		return queryOutcome{Err: &bq.ErrorProto{Reason: "invalid", Message: "unexpected query"}}
	}
}

var loadJobIDShape = regexp.MustCompile(`^turnstile_load_run-20260122-a1_20260122_[0-9a-f]{12}_a1$`)

func TestReplaceTurnsLoadJob(t *testing.T) {
	f := newFakeBQ(t)
	f.query = replaceHook(2, 0)
	w := f.newWarehouse(t, nil)
	r := newReplacement(testRun, sampleTurns())

	info, err := w.ReplaceTurns(context.Background(), r.Replacement)
	if err != nil {
		t.Fatalf("ReplaceTurns: %v", err)
	}
	wantOut := worker.OutputInfo{Rows: 2, Jobs: worker.JobStats{QueryJobs: 1, BytesProcessed: 77}}
	wantInfo := worker.ReplaceInfo{Output: wantOut, Jobs: worker.JobStats{LoadJobs: 1}}
	if diff := cmp.Diff(wantInfo, info); diff != "" {
		t.Errorf("ReplaceInfo (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]worker.OutputInfo{wantOut}, r.checked); diff != "" {
		t.Errorf("Check saw (-want +got):\n%s", diff)
	}
	if r.produced != 1 {
		t.Errorf("Produce called %d times, want 1", r.produced)
	}

	loads := f.loadInserts()
	if len(loads) != 1 {
		t.Fatalf("load jobs inserted = %d, want 1", len(loads))
	}
	req := loads[0]
	if req.Upload != "multipart" {
		t.Errorf("upload type %q, want multipart", req.Upload)
	}
	job := req.Job
	if id := job.JobReference.JobId; !loadJobIDShape.MatchString(id) {
		t.Errorf("load job id %q does not match %s", id, loadJobIDShape)
	}
	if job.JobReference.Location != "EU" {
		t.Errorf("load job location %q, want EU", job.JobReference.Location)
	}
	load := job.Configuration.Load
	wantDst := &bq.TableReference{ProjectId: "proj", DatasetId: "ds", TableId: "turns$20260122"}
	if diff := cmp.Diff(wantDst, load.DestinationTable); diff != "" {
		t.Errorf("destination (-want +got):\n%s", diff)
	}
	for _, c := range []struct{ name, got, want string }{
		{"writeDisposition", load.WriteDisposition, "WRITE_TRUNCATE"},
		{"createDisposition", load.CreateDisposition, "CREATE_NEVER"},
		{"sourceFormat", load.SourceFormat, "NEWLINE_DELIMITED_JSON"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if load.Autodetect {
		t.Error("autodetect is on; the schema must be explicit")
	}
	wantTP := &bq.TimePartitioning{Type: "DAY", Field: "ingestion_date"}
	if diff := cmp.Diff(wantTP, load.TimePartitioning); diff != "" {
		t.Errorf("time partitioning (-want +got):\n%s", diff)
	}
	if c := load.Clustering; c == nil || !cmp.Equal(c.Fields, []string{"parent_id"}) {
		t.Errorf("clustering = %+v, want parent_id as the table's", c)
	}
	if diff := cmp.Diff(wantTurnsSchema, schemaSpec(load.Schema)); diff != "" {
		t.Errorf("load schema (-want +got):\n%s", diff)
	}
	wantLabels := map[string]string{"app": "turnstile", "partition": "20260122", "step": "load"}
	if diff := cmp.Diff(wantLabels, job.Configuration.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantLines(), ndjson(t, req.Media)); diff != "" {
		t.Errorf("load file (-want +got):\n%s", diff)
	}

	// The output check filters both tables on the partition.
	var check *bq.JobConfigurationQuery
	for _, q := range f.queryInserts() {
		check = q.Job.Configuration.Query
	}
	if check == nil || strings.Count(check.Query, "ingestion_date = @day") != 2 || !strings.Contains(check.Query, "`proj.ds.turns`") {
		t.Errorf("output check query does not filter turns and conversations on @day:\n%v", check)
	} else if diff := cmp.Diff(map[string]string{"day": "DATE=2026-01-22"}, params(check)); diff != "" {
		t.Errorf("output check parameters (-want +got):\n%s", diff)
	}
}

// schemaSpec is a schema as "name TYPE MODE" lines.
func schemaSpec(s *bq.TableSchema) []string {
	var out []string
	for _, f := range s.Fields {
		mode := f.Mode
		if mode == "" {
			mode = "NULLABLE"
		}
		out = append(out, f.Name+" "+f.Type+" "+mode)
	}
	return out
}

// wantTurnsSchema is the turns table of SPEC §2.
var wantTurnsSchema = []string{
	"turn_id STRING REQUIRED",
	"parent_id STRING REQUIRED",
	"turn_index INTEGER REQUIRED",
	"user_message_ids STRING REPEATED",
	"response_message_ids STRING REPEATED",
	"user_text STRING NULLABLE",
	"response_text STRING NULLABLE",
	"started_at TIMESTAMP NULLABLE",
	"ended_at TIMESTAMP NULLABLE",
	"response_latency_ms INTEGER NULLABLE",
	"is_complete BOOLEAN NULLABLE",
	"metadata JSON NULLABLE",
	"ingestion_date DATE REQUIRED",
	"created_at TIMESTAMP REQUIRED",
	"run_id STRING REQUIRED",
}

// ndjson decodes a newline-delimited JSON load file.
func ndjson(tb testing.TB, data []byte) []map[string]any {
	tb.Helper()
	if len(data) > 0 && data[len(data)-1] != '\n' {
		tb.Errorf("load file does not end with a newline")
	}
	var out []map[string]any
	for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			tb.Fatalf("load file line %d: %v: %s", i+1, err, line)
		}
		out = append(out, m)
	}
	return out
}

func TestReplaceTurnsResumableUpload(t *testing.T) {
	f := newFakeBQ(t)
	const n = 3000
	f.query = replaceHook(n, 0)
	w := f.newWarehouse(t, func(o *Options) { o.UploadChunkSize = 256 << 10 })
	ts := make([]turns.Turn, n)
	for i := range ts {
		ts[i] = turns.Turn{TurnID: fmt.Sprintf("l6_%05d", i), ParentID: fmt.Sprintf("c%04d", i/3), TurnIndex: int64(i % 3),
			UserText: strings.Repeat("x", 300), IsComplete: true}
	}
	r := newReplacement(testRun, ts)
	if _, err := w.ReplaceTurns(context.Background(), r.Replacement); err != nil {
		t.Fatalf("ReplaceTurns: %v", err)
	}
	var starts, chunks int
	for _, req := range f.requests() {
		switch req.Upload {
		case "resumable":
			starts++
		case "chunk":
			chunks++
		case "multipart":
			t.Errorf("multipart upload for %d bytes of turns", n*300)
		}
	}
	if starts != 1 || chunks < 3 {
		t.Errorf("resumable upload: %d session starts and %d chunks, want 1 and at least 3", starts, chunks)
	}
	loads := f.loadInserts()
	if len(loads) != 1 {
		t.Fatalf("load jobs inserted = %d, want 1", len(loads))
	}
	lines := ndjson(t, f.jobData(loads[0].Job.JobReference.JobId))
	if len(lines) != n {
		t.Fatalf("load file has %d rows, want %d", len(lines), n)
	}
	for i, l := range lines {
		if l["turn_id"] != ts[i].TurnID {
			t.Fatalf("row %d is turn %v, want %s", i, l["turn_id"], ts[i].TurnID)
		}
	}
}

func TestReplaceTurnsRedeliveryReusesFinishedJob(t *testing.T) {
	f := newFakeBQ(t)
	f.query = replaceHook(2, 0)
	first := f.newWarehouse(t, nil)
	if _, err := first.ReplaceTurns(context.Background(), newReplacement(testRun, sampleTurns()).Replacement); err != nil {
		t.Fatalf("first delivery: %v", err)
	}

	// A redelivery, in another process, finds the finished job.
	again := f.newWarehouse(t, nil)
	r := newReplacement(testRun, sampleTurns())
	info, err := again.ReplaceTurns(context.Background(), r.Replacement)
	if err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if !info.Reused || info.Jobs.LoadJobs != 0 {
		t.Errorf("ReplaceInfo = %+v, want Reused and no load job", info)
	}
	if n := len(f.loadInserts()); n != 1 {
		t.Errorf("load jobs inserted = %d, want 1 (no second upload)", n)
	}
	if r.produced != 1 || r.put != 2 {
		t.Errorf("Produce ran %d times putting %d turns, want once with 2 (for the caller's counts)", r.produced, r.put)
	}
	if len(r.checked) != 1 {
		t.Errorf("Check called %d times, want 1", len(r.checked))
	}
	if got := again.Budget().LoadJobs; got != 0 {
		t.Errorf("load jobs counted = %d, want 0", got)
	}
}

func TestReplaceTurnsWaitsForRunningJob(t *testing.T) {
	f := newFakeBQ(t)
	f.query = replaceHook(2, 0)
	w := f.newWarehouse(t, nil)
	id := loadJobID(loadJobBase(testRun, testDay, "proj.ds.turns"), 1)
	f.addJob(id, true, nil, 1) // still running at the first look
	r := newReplacement(testRun, sampleTurns())
	info, err := w.ReplaceTurns(context.Background(), r.Replacement)
	if err != nil {
		t.Fatalf("ReplaceTurns: %v", err)
	}
	if !info.Reused || len(f.loadInserts()) != 0 {
		t.Errorf("Reused = %t with %d load inserts, want the running job reused and no insert", info.Reused, len(f.loadInserts()))
	}
}

func TestReplaceTurnsAttachOnConflict(t *testing.T) {
	tests := []struct {
		name       string
		concurrent *bq.ErrorProto // outcome of the concurrent delivery's job
		wantErr    string
	}{
		{name: "succeeded"},
		{name: "failed", concurrent: &bq.ErrorProto{Reason: "backendError", Message: "Backend error"}, wantErr: "concurrent delivery"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeBQ(t)
			f.query = replaceHook(2, 0)
			// The job does not exist when ReplaceTurns looks, but a
			// concurrent delivery creates it before this insert lands.
			f.insertError = func(job *bq.Job) *apiError {
				if job.Configuration.Load == nil {
					return nil
				}
				f.addJobLocked(job.JobReference.JobId, true, tc.concurrent, 0)
				return &apiError{409, "duplicate", "Already Exists: Job proj:EU." + job.JobReference.JobId}
			}
			w := f.newWarehouse(t, nil)
			r := newReplacement(testRun, sampleTurns())
			info, err := w.ReplaceTurns(context.Background(), r.Replacement)

			if n := len(f.loadInserts()); n != 1 {
				t.Errorf("load inserts = %d, want 1 (no second upload)", n)
			}
			if r.produced != 1 || r.put != 2 {
				t.Errorf("Produce ran %d times putting %d turns, want once with 2", r.produced, r.put)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || worker.ClassOf(err) != worker.Retryable {
					t.Errorf("error = %v, want a retryable error mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReplaceTurns: %v", err)
			}
			if !info.Reused || info.Jobs.LoadJobs != 0 || len(r.checked) != 1 {
				t.Errorf("ReplaceInfo = %+v, Check calls %d; want reused, no load job, one check", info, len(r.checked))
			}
		})
	}
}

func TestReplaceTurnsNextAttemptAfterFailedJob(t *testing.T) {
	f := newFakeBQ(t)
	f.query = replaceHook(2, 0)
	fail := true
	f.load = func(job *bq.Job, data []byte) *bq.ErrorProto {
		if fail {
			return &bq.ErrorProto{Reason: "backendError", Message: "Backend error"}
		}
		return nil
	}
	w := f.newWarehouse(t, nil)
	_, err := w.ReplaceTurns(context.Background(), newReplacement(testRun, sampleTurns()).Replacement)
	if err == nil || worker.ClassOf(err) != worker.Retryable {
		t.Fatalf("first attempt: error %v, want retryable", err)
	}
	fail = false
	r := newReplacement(testRun, sampleTurns())
	info, err := w.ReplaceTurns(context.Background(), r.Replacement)
	if err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	loads := f.loadInserts()
	if len(loads) != 2 {
		t.Fatalf("load inserts = %d, want 2", len(loads))
	}
	first, second := loads[0].Job.JobReference.JobId, loads[1].Job.JobReference.JobId
	if want := strings.TrimSuffix(first, "_a1") + "_a2"; second != want || !strings.HasSuffix(first, "_a1") {
		t.Errorf("job ids %q then %q, want the second to be %q", first, second, want)
	}
	if info.Reused || info.Jobs.LoadJobs != 1 {
		t.Errorf("ReplaceInfo = %+v, want a new load", info)
	}
}

func TestReplaceTurnsProduceFailureLoadsNothing(t *testing.T) {
	f := newFakeBQ(t)
	f.query = replaceHook(0, 0)
	w := f.newWarehouse(t, nil)
	boom := errors.New("read partition: connection reset")
	r := newReplacement(testRun, sampleTurns())
	checked := false
	r.Produce = func(ctx context.Context, put worker.Put) error {
		ts := sampleTurns()
		if err := put(&ts[0]); err != nil {
			return err
		}
		return boom
	}
	r.Check = func(worker.OutputInfo) error { checked = true; return nil }
	_, err := w.ReplaceTurns(context.Background(), r.Replacement)
	if !errors.Is(err, boom) {
		t.Errorf("error = %v, want Produce's", err)
	}
	f.mu.Lock()
	for id, j := range f.jobs {
		if j.job.Configuration.Load != nil {
			t.Errorf("load job %s was created after Produce failed", id)
		}
	}
	f.mu.Unlock()
	if checked || len(f.queryInserts()) != 0 {
		t.Errorf("output checked (%t) or queried (%d) after a failed write", checked, len(f.queryInserts()))
	}
}

// restoreHook answers the output check with rows and unknown parents, and
// the restore query with restoreErr (success when nil).
func restoreHook(rows, unknown int, restoreErr *bq.ErrorProto, restores *[]*bq.JobConfigurationQuery) func(q *bq.JobConfigurationQuery) queryOutcome {
	check := replaceHook(rows, unknown)
	return func(q *bq.JobConfigurationQuery) queryOutcome {
		if strings.Contains(q.Query, "FOR SYSTEM_TIME AS OF") {
			*restores = append(*restores, q)
			return queryOutcome{Err: restoreErr, Bytes: 10}
		}
		return check(q)
	}
}

func TestReplaceTurnsCheckFailureRestoresPartition(t *testing.T) {
	f := newFakeBQ(t)
	var restores []*bq.JobConfigurationQuery
	f.query = restoreHook(2, 1, nil, &restores)
	w := f.newWarehouse(t, nil)
	r := newReplacement(testRun, sampleTurns())
	bad := worker.MarkPermanent(errors.New("1 turn has an unknown parent"))
	r.Check = func(worker.OutputInfo) error { return bad }

	info, err := w.ReplaceTurns(context.Background(), r.Replacement)
	if !errors.Is(err, bad) || worker.ClassOf(err) != worker.Permanent {
		t.Fatalf("error = %v, want Check's permanent error", err)
	}
	if !strings.Contains(err.Error(), "the partition was restored") {
		t.Errorf("error %q does not say the partition was restored", err)
	}
	if len(restores) != 1 {
		t.Fatalf("restore queries = %d, want 1", len(restores))
	}
	loadID := f.loadInserts()[0].Job.JobReference.JobId
	var restore *bq.Job
	for _, q := range f.queryInserts() {
		if q.Job.Configuration.Query.DestinationTable != nil {
			restore = q.Job
		}
	}
	if restore == nil {
		t.Fatal("no query job writes the partition")
	}
	q := restore.Configuration.Query
	if want := "SELECT * FROM `proj.ds.turns` FOR SYSTEM_TIME AS OF @before WHERE ingestion_date = @day"; q.Query != want {
		t.Errorf("restore query\n%s\nwant\n%s", q.Query, want)
	}
	wantDst := &bq.TableReference{ProjectId: "proj", DatasetId: "ds", TableId: "turns$20260122"}
	if diff := cmp.Diff(wantDst, q.DestinationTable); diff != "" {
		t.Errorf("restore destination (-want +got):\n%s", diff)
	}
	if tp, c := q.TimePartitioning, q.Clustering; tp == nil || tp.Field != "ingestion_date" || c == nil || !cmp.Equal(c.Fields, []string{"parent_id"}) {
		t.Errorf("restore partitioning %+v and clustering %+v, want the table's", tp, c)
	}
	if q.WriteDisposition != "WRITE_TRUNCATE" || q.CreateDisposition != "CREATE_NEVER" {
		t.Errorf("restore dispositions %s/%s, want WRITE_TRUNCATE/CREATE_NEVER", q.WriteDisposition, q.CreateDisposition)
	}
	if got, want := restore.JobReference.JobId, loadID+"_restore"; got != want {
		t.Errorf("restore job id %q, want %q", got, want)
	}
	f.mu.Lock()
	created := time.UnixMilli(f.jobs[loadID].job.Statistics.CreationTime).UTC()
	f.mu.Unlock()
	p := params(q)
	before, perr := time.Parse("TIMESTAMP=2006-01-02 15:04:05.999999-07:00", p["before"])
	if perr != nil || !before.Equal(created) || p["day"] != "DATE=2026-01-22" {
		t.Errorf("restore parameters %v, want day 2026-01-22 and before = the load job's creation %v", p, created)
	}
	if info.Output.Jobs.QueryJobs != 2 {
		t.Errorf("output jobs = %+v, want the check and the restore", info.Output.Jobs)
	}

	// The event's next delivery loads again, under the next suffix.
	f.query = replaceHook(2, 0)
	again := f.newWarehouse(t, nil)
	next := newReplacement(testRun, sampleTurns())
	info, err = again.ReplaceTurns(context.Background(), next.Replacement)
	if err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	loads := f.loadInserts()
	if info.Reused || len(loads) != 2 || loads[1].Job.JobReference.JobId != strings.TrimSuffix(loadID, "_a1")+"_a2" {
		t.Errorf("redelivery reused=%t with %d loads; want a new load under _a2", info.Reused, len(loads))
	}
}

func TestReplaceTurnsFailedRestoreSaysSo(t *testing.T) {
	f := newFakeBQ(t)
	var restores []*bq.JobConfigurationQuery
	f.query = restoreHook(2, 1, &bq.ErrorProto{Reason: "invalid", Message: "Invalid snapshot time"}, &restores)
	w := f.newWarehouse(t, nil)
	r := newReplacement(testRun, sampleTurns())
	bad := errors.New("1 turn has an unknown parent")
	r.Check = func(worker.OutputInfo) error { return bad }
	_, err := w.ReplaceTurns(context.Background(), r.Replacement)
	if !errors.Is(err, bad) || !strings.Contains(err.Error(), "it holds the rejected turns") || !strings.Contains(err.Error(), "Invalid snapshot time") {
		t.Errorf("error = %v, want Check's error saying the restore failed and why", err)
	}
}

func TestReplaceTurnsCheckFailureOnReusedJobRestoresNothing(t *testing.T) {
	f := newFakeBQ(t)
	var restores []*bq.JobConfigurationQuery
	f.query = restoreHook(2, 0, nil, &restores)
	w := f.newWarehouse(t, nil)
	if _, err := w.ReplaceTurns(context.Background(), newReplacement(testRun, sampleTurns()).Replacement); err != nil {
		t.Fatalf("first delivery: %v", err)
	}
	r := newReplacement(testRun, sampleTurns())
	bad := errors.New("rows differ")
	r.Check = func(worker.OutputInfo) error { return bad }
	_, err := w.ReplaceTurns(context.Background(), r.Replacement)
	if !errors.Is(err, bad) || !strings.Contains(err.Error(), "not undone") {
		t.Errorf("error = %v, want Check's error saying the earlier load is not undone", err)
	}
	if len(restores) != 0 {
		t.Errorf("%d restores after a check of a reused job, want 0", len(restores))
	}
}

// BenchmarkTurnWriter measures encoding turns into load-file rows.
func BenchmarkTurnWriter(b *testing.B) {
	ts := sampleTurns()
	ts[0].UserText = strings.Repeat("a question of some length ", 20)
	ts[0].ResponseText = strings.Repeat("an answer of some more length ", 40)
	cw := &countWriter{}
	tw := newTurnWriter(cw, testDay, testNow, testRun)
	b.ReportAllocs()
	for b.Loop() {
		if err := tw.put(&ts[0]); err != nil {
			b.Fatal(err)
		}
	}
	if err := tw.flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cw.n)/float64(b.N), "bytes/turn")
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
