package bigquery

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"google.golang.org/api/googleapi"

	"github.com/turnstile-dev/turnstile/internal/turns"
	"github.com/turnstile-dev/turnstile/worker"
)

// maxLoadAttempts bounds the attempts (job id suffixes _a1, _a2, ...) at
// loading one partition for one run. Each failed attempt is a finished
// BigQuery job; past this many, the event is dead-lettered.
const maxLoadAttempts = 20

// ReplaceTurns replaces partition r.Day of the turns table with the turns
// r.Produce writes, in one load job:
//
//   - The job id is derived from r.RunID, the partition and the table, with
//     an attempt suffix (_a1, _a2, ...). ReplaceTurns first looks the ids up:
//     a finished successful attempt means an earlier delivery already
//     replaced the partition, so nothing is loaded again (ReplaceInfo.Reused;
//     r.Produce still runs, its turns discarded, so the caller's counts are
//     whole); a running one is waited for; a failed one moves on to the next
//     suffix. When jobs.insert answers 409 (a concurrent delivery started
//     the same attempt meanwhile), ReplaceTurns attaches to that job and uses
//     its outcome; if that job fails, the error is retryable and the next
//     delivery uses the next suffix.
//   - The turns stream as newline-delimited JSON through a pipe into the
//     upload (memory: one upload chunk, see Options.UploadChunkSize), with
//     an explicit schema: DATE and TIMESTAMP values, metadata as a JSON
//     value. The load is WRITE_TRUNCATE into the partition decorator
//     turns$YYYYMMDD with CREATE_NEVER, so readers see the old partition or
//     the new one. BigQuery creates the job only when the upload completes:
//     when r.Produce fails, the upload is abandoned and the partition is
//     untouched.
//   - Then one query counts the partition's rows and the rows whose
//     parent_id is not a conversation of the partition, and r.Check is
//     called. BigQuery cannot roll a finished load back, so the check runs
//     after the replacement became visible. When r.Check fails after a load
//     this call ran, one more query job (id: the load job's id + "_restore")
//     puts the partition back as it was when the load job was created
//     (time travel: SELECT ... FOR SYSTEM_TIME AS OF, WRITE_TRUNCATE into
//     the partition decorator), and a later delivery of the event loads
//     again under the next suffix. Readers may see the rejected turns for
//     the seconds between the load and the restore; a replacement of the
//     same partition by another run committed in between is undone too.
//     When r.Check fails on a reused job, nothing is restored.
//
// The load job is taken from the daily budget before r.Produce is called;
// when it is spent, r.Produce is not called and no job starts.
func (w *Warehouse) ReplaceTurns(ctx context.Context, r worker.Replacement) (worker.ReplaceInfo, error) {
	const op = "load turns"
	var info worker.ReplaceInfo
	table := w.TurnsTableName() + "$" + partitionSuffix(r.Day)
	switch {
	case !r.Day.IsValid():
		return info, worker.MarkPermanent(fmt.Errorf("bigquery %s on %s: partition %s is not a valid date", op, w.TurnsTableName(), r.Day))
	case r.RunID == "":
		return info, worker.MarkPermanent(fmt.Errorf("bigquery %s on %s for partition %s: empty run id", op, table, r.Day))
	case r.CreatedAt.IsZero():
		return info, worker.MarkPermanent(fmt.Errorf("bigquery %s on %s for partition %s: zero created_at", op, table, r.Day))
	}
	base := loadJobBase(r.RunID, r.Day, w.TurnsTableName())

	attempt, done, err := w.findLoadAttempt(ctx, base, table, r.Day)
	if err != nil {
		return info, err
	}
	jobID := loadJobID(base, attempt)
	var before time.Time // the load job's creation, when this call loaded
	if done {
		if err := discardTurns(ctx, r.Produce); err != nil {
			return info, err
		}
		info.Reused = true
	} else {
		if err := w.budget.take(LoadJobs); err != nil {
			return info, classify(err, op, table, r.Day, jobID)
		}
		job, reused, err := w.load(ctx, r, jobID, table)
		info.Reused = reused
		if !reused {
			info.Jobs.LoadJobs = 1
		}
		if err != nil {
			return info, err
		}
		if job != nil {
			if s := job.LastStatus(); s != nil && s.Statistics != nil {
				before = s.Statistics.CreationTime
			}
		}
	}

	out, err := w.checkOutput(ctx, r.Day)
	info.Output = out
	if err != nil {
		return info, err
	}
	if r.Check == nil {
		return info, nil
	}
	cerr := r.Check(out)
	if cerr == nil {
		return info, nil
	}
	if before.IsZero() {
		return info, fmt.Errorf("check of turns partition %s failed; it holds the turns of the earlier load job %s, which is not undone: %w",
			r.Day, jobID, cerr)
	}
	stats, rerr := w.restore(ctx, r.Day, before, jobID+restoreSuffix)
	info.Output.Jobs.Add(stats)
	if rerr != nil {
		return info, fmt.Errorf("check of turns partition %s failed after load job %s replaced it, and restoring the partition failed (%v); it holds the rejected turns: %w",
			r.Day, jobID, rerr, cerr)
	}
	return info, fmt.Errorf("check of turns partition %s failed after load job %s replaced it; the partition was restored to its contents of %s: %w",
		r.Day, jobID, before.UTC().Format(time.RFC3339Nano), cerr)
}

func turnsPartitioning() *bigquery.TimePartitioning {
	return &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType, Field: partitionColumn}
}

func turnsClustering() *bigquery.Clustering {
	spec, _ := specOf(TableTurns)
	return &bigquery.Clustering{Fields: spec.clustering}
}

// restoreSuffix marks the job that undid a load attempt (see ReplaceTurns).
const restoreSuffix = "_restore"

// restore replaces partition day of the turns table with what it held at
// before, with the query job jobID. A job that already exists under jobID
// (an earlier try) is waited for instead.
func (w *Warehouse) restore(ctx context.Context, day civil.Date, before time.Time, jobID string) (worker.JobStats, error) {
	const op = "restore turns"
	var stats worker.JobStats
	table := w.TurnsTableName() + "$" + partitionSuffix(day)
	if err := w.budget.take(QueryJobs); err != nil {
		return stats, classify(err, op, table, day, jobID)
	}
	q := w.client.Query(fmt.Sprintf("SELECT * FROM %s FOR SYSTEM_TIME AS OF @before WHERE ingestion_date = @day", w.ref(TableTurns)))
	q.Parameters = []bigquery.QueryParameter{dayParam(day), {Name: "before", Value: before.UTC()}}
	q.Dst = w.client.Dataset(w.opts.Dataset).Table(w.opts.TurnsTable + "$" + partitionSuffix(day))
	q.WriteDisposition = bigquery.WriteTruncate
	q.CreateDisposition = bigquery.CreateNever
	q.TimePartitioning = turnsPartitioning()
	q.Clustering = turnsClustering()
	q.Labels = labels(day, "restore")
	q.JobID = jobID
	job, err := q.Run(ctx)
	if isConflict(err) {
		job, err = w.client.JobFromID(ctx, jobID)
	}
	if err != nil {
		return stats, classify(err, op, table, day, jobID)
	}
	stats.QueryJobs = 1
	status, err := job.Wait(ctx)
	if err != nil {
		return stats, classify(err, op, table, day, jobID)
	}
	if status.Statistics != nil {
		stats.BytesProcessed = status.Statistics.TotalBytesProcessed
	}
	return stats, classify(jobErr(status), op, table, day, jobID)
}

// findLoadAttempt looks up the attempts of load job base in order. It
// returns the first attempt that does not exist yet (done false), or the
// attempt that succeeded and was not undone by a restore (done true). A
// running attempt is waited for.
func (w *Warehouse) findLoadAttempt(ctx context.Context, base, table string, day civil.Date) (attempt int, done bool, err error) {
	var last error
	for a := 1; a <= maxLoadAttempts; a++ {
		id := loadJobID(base, a)
		found, failure, err := w.finished(ctx, id)
		if err != nil {
			return 0, false, classify(err, "look up load job", table, day, id)
		}
		if !found {
			return a, false, nil
		}
		if last = failure; last != nil {
			continue
		}
		restored, failure, err := w.finished(ctx, id+restoreSuffix)
		if err != nil {
			return 0, false, classify(err, "look up restore job", table, day, id+restoreSuffix)
		}
		if !restored || failure != nil {
			return a, true, nil
		}
		last = fmt.Errorf("load job %s was undone by a restore after its output check failed", id)
	}
	err = fmt.Errorf("all %d load attempts failed, the last with: %w", maxLoadAttempts, last)
	return 0, false, worker.MarkPermanent(&Error{Op: "load turns", Table: table, Partition: day,
		JobID: loadJobID(base, maxLoadAttempts), Reason: "attemptsExhausted", Err: err})
}

// finished looks job id up and waits for it to finish. found is false when
// there is no such job; failure is the job's error when it failed; err is
// an error of the lookup itself.
func (w *Warehouse) finished(ctx context.Context, id string) (found bool, failure, err error) {
	job, err := w.client.JobFromID(ctx, id)
	if isNotFound(err) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, err
	}
	status := job.LastStatus()
	if status == nil || !status.Done() {
		if status, err = job.Wait(ctx); err != nil {
			return true, nil, err
		}
	}
	return true, jobErr(status), nil
}

// discardTurns runs produce with a put that discards the turns.
func discardTurns(ctx context.Context, produce func(context.Context, worker.Put) error) error {
	return produce(ctx, func(*turns.Turn) error { return nil })
}

// produced is the outcome of the goroutine that runs Replacement.Produce.
type produced struct {
	err error
	// pipeClosed is true when writing to the upload failed, i.e. the upload
	// stopped first and err is a consequence of that.
	pipeClosed bool
}

// load runs the load job jobID of r's turns into table (the partition
// decorator) and returns it once finished. reused is true when the job id
// already existed and its job, started by another delivery, succeeded.
func (w *Warehouse) load(ctx context.Context, r worker.Replacement, jobID, table string) (job *bigquery.Job, reused bool, err error) {
	const op = "load turns"
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	pr, pw := io.Pipe()
	done := make(chan produced, 1)
	go func() {
		tw := newTurnWriter(pw, r.Day, r.CreatedAt, r.RunID)
		err := r.Produce(ctx, tw.put)
		if err == nil {
			err = tw.flush()
		}
		pw.CloseWithError(err)
		done <- produced{err: err, pipeClosed: tw.out.err != nil}
	}()

	src := bigquery.NewReaderSource(pr)
	src.SourceFormat = bigquery.JSON
	src.Schema = turnsSchema
	loader := w.client.Dataset(w.opts.Dataset).Table(w.opts.TurnsTable + "$" + partitionSuffix(r.Day)).LoaderFrom(src)
	loader.JobID = jobID
	loader.Location = w.opts.Location
	loader.WriteDisposition = bigquery.WriteTruncate
	loader.CreateDisposition = bigquery.CreateNever
	// The partitioning and clustering of SPEC §2: BigQuery rejects a
	// WRITE_TRUNCATE whose specification differs from the table's.
	loader.TimePartitioning = turnsPartitioning()
	loader.Clustering = turnsClustering()
	loader.Labels = labels(r.Day, "load")
	loader.MediaOptions = []googleapi.MediaOption{googleapi.ContentType("application/octet-stream")}
	if w.opts.UploadChunkSize > 0 {
		loader.MediaOptions = append(loader.MediaOptions, googleapi.ChunkSize(w.opts.UploadChunkSize))
	}

	job, err = loader.Run(ctx)
	if err != nil {
		if isConflict(err) {
			// Another delivery started this attempt: let Produce finish
			// (its turns are not needed) and use that job's outcome.
			_, _ = io.Copy(io.Discard, pr)
			if p := <-done; p.err != nil {
				return nil, false, p.err
			}
			reused, err := w.attach(ctx, jobID, table, r.Day)
			return nil, reused, err
		}
		pr.CloseWithError(err)
		if p := <-done; p.err != nil && !p.pipeClosed {
			return nil, false, p.err // Produce failed first; the upload was abandoned
		}
		return nil, false, classify(err, op, table, r.Day, jobID)
	}
	if p := <-done; p.err != nil {
		return job, false, p.err
	}
	status, err := job.Wait(ctx)
	if err != nil {
		return job, false, classify(err, "wait for load job", table, r.Day, jobID)
	}
	return job, false, classify(jobErr(status), op, table, r.Day, jobID)
}

// attach waits for the existing load job jobID and reports its outcome.
func (w *Warehouse) attach(ctx context.Context, jobID, table string, day civil.Date) (reused bool, err error) {
	found, failure, err := w.finished(ctx, jobID)
	if err == nil && !found {
		err = errors.New("jobs.insert answered that the job exists, but it cannot be found")
	}
	if err != nil {
		return false, classify(err, "attach to load job", table, day, jobID)
	}
	if failure != nil {
		// The next delivery will find this attempt failed and use the next
		// suffix; the turns streamed here cannot be sent again.
		return false, &Error{Op: "load turns", Table: table, Partition: day, JobID: jobID, Reason: "concurrentAttemptFailed",
			Retryable: true, Err: fmt.Errorf("a concurrent delivery's load job failed: %w", failure)}
	}
	return true, nil
}

// checkOutput runs the output check query of partition day.
func (w *Warehouse) checkOutput(ctx context.Context, day civil.Date) (worker.OutputInfo, error) {
	const op = "check output"
	table := w.TurnsTableName()
	var out worker.OutputInfo
	row, stats, err := w.queryRow(ctx, op, "check_output", table, day, 2, w.sql.output, dayParam(day))
	out.Jobs = stats
	if err != nil {
		return out, err
	}
	out.Rows, _ = row[0].(int64)
	out.UnknownParents, _ = row[1].(int64)
	return out, nil
}

// turnRow is a row of the turns table as newline-delimited JSON for a load
// job with the turns schema: DATE as YYYY-MM-DD, TIMESTAMP as RFC 3339 UTC
// with microseconds, NULL as null, metadata as a JSON object (loaded as a
// JSON value, not a string).
type turnRow struct {
	TurnID             string         `json:"turn_id"`
	ParentID           string         `json:"parent_id"`
	TurnIndex          int64          `json:"turn_index"`
	UserMessageIDs     []string       `json:"user_message_ids"`
	ResponseMessageIDs []string       `json:"response_message_ids"`
	UserText           string         `json:"user_text"`
	ResponseText       string         `json:"response_text"`
	StartedAt          timestamp      `json:"started_at"`
	EndedAt            timestamp      `json:"ended_at"`
	ResponseLatencyMS  *int64         `json:"response_latency_ms"`
	IsComplete         bool           `json:"is_complete"`
	Metadata           turns.Metadata `json:"metadata"`
	IngestionDate      civil.Date     `json:"ingestion_date"`
	CreatedAt          timestamp      `json:"created_at"`
	RunID              string         `json:"run_id"`
}

// timestamp is a TIMESTAMP value of a load file; the zero time is NULL.
type timestamp time.Time

// timestampLayout is RFC 3339 in UTC with BigQuery's microsecond precision.
const timestampLayout = "2006-01-02T15:04:05.000000Z07:00"

func (t timestamp) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	if tt.IsZero() {
		return []byte("null"), nil
	}
	b := make([]byte, 0, len(timestampLayout)+2)
	b = append(b, '"')
	b = tt.UTC().AppendFormat(b, timestampLayout)
	return append(b, '"'), nil
}

// errWriter remembers the first error of the writer it wraps.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// turnWriter encodes turns as load-file rows.
type turnWriter struct {
	out *errWriter
	bw  *bufio.Writer
	enc *json.Encoder
	row turnRow
}

func newTurnWriter(w io.Writer, day civil.Date, createdAt time.Time, runID string) *turnWriter {
	out := &errWriter{w: w}
	bw := bufio.NewWriterSize(out, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &turnWriter{out: out, bw: bw, enc: enc, row: turnRow{
		IngestionDate: day,
		CreatedAt:     timestamp(createdAt),
		RunID:         runID,
	}}
}

var noIDs = []string{}

// put writes t as one line.
func (tw *turnWriter) put(t *turns.Turn) error {
	r := &tw.row
	r.TurnID, r.ParentID, r.TurnIndex = t.TurnID, t.ParentID, t.TurnIndex
	r.UserMessageIDs, r.ResponseMessageIDs = t.UserMessageIDs, t.ResponseMessageIDs
	if r.UserMessageIDs == nil {
		r.UserMessageIDs = noIDs
	}
	if r.ResponseMessageIDs == nil {
		r.ResponseMessageIDs = noIDs
	}
	r.UserText, r.ResponseText = t.UserText, t.ResponseText
	r.StartedAt, r.EndedAt = timestamp(t.StartedAt), timestamp(t.EndedAt)
	r.ResponseLatencyMS = nil
	if t.HasLatency {
		r.ResponseLatencyMS = &t.ResponseLatencyMS
	}
	r.IsComplete = t.IsComplete
	r.Metadata = t.Metadata
	if err := tw.enc.Encode(r); err != nil {
		return fmt.Errorf("write turn %s: %w", t.TurnID, err)
	}
	return nil
}

func (tw *turnWriter) flush() error {
	if err := tw.bw.Flush(); err != nil {
		return fmt.Errorf("write turns: %w", err)
	}
	return nil
}
