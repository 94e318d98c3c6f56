package bigquery

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"google.golang.org/api/googleapi"

	"github.com/turnstile-dev/turnstile/internal/ingest"
)

// stagingSchema is the schema of an import's staging table: conversation
// rows (kind "c") and message rows (kind "m") of one input, in one table so
// that one load job carries both. pos is the conversation's position in the
// input.
var stagingSchema = bigquery.Schema{
	col("kind", bigquery.StringFieldType, true, "c: conversation, m: message"),
	col("pos", bigquery.IntegerFieldType, true, "position of the conversation in the input"),
	col("conversation_id", bigquery.StringFieldType, true, ""),
	col("source", bigquery.StringFieldType, false, ""),
	col("title", bigquery.StringFieldType, false, ""),
	col("metadata", bigquery.JSONFieldType, false, ""),
	col("message_id", bigquery.StringFieldType, false, ""),
	col("seq", bigquery.IntegerFieldType, false, ""),
	col("role", bigquery.StringFieldType, false, ""),
	col("content", bigquery.StringFieldType, false, ""),
	col("created_at", bigquery.TimestampFieldType, false, ""),
}

// stagingTTL is how long a staging table outlives an import that could not
// delete it.
const stagingTTL = 24 * time.Hour

// Import loads the conversations r yields into partition day of the
// conversations and messages tables (SPEC §8), all or nothing, with one
// load job and one query job:
//
//  1. the input streams as newline-delimited JSON into one load job into a
//     staging table of the dataset (created for the import, expiring after
//     a day, deleted at the end);
//  2. one multi-statement transaction deletes the partition's rows of the
//     conversations the input contains (and their messages), inserts the
//     staged conversations (one row per conversation_id: the first in the
//     input, with started_at the earliest message time and message_count
//     its messages) and messages, and commits.
//
// Readers see the partition before the import or after it. When r fails
// part-way, the upload is abandoned and nothing is stored. Both budgets are
// checked before anything starts. Conversations get created_at = Options.Now
// and run_id = runID; an input with no conversation starts no job.
func (w *Warehouse) Import(ctx context.Context, day civil.Date, runID string, r ingest.Reader) (ingest.Result, error) {
	const op = "import"
	var res ingest.Result
	table := w.inputTables()
	first, err := r.Next()
	if errors.Is(err, io.EOF) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("import into partition %s: %w", day, err)
	}
	for _, k := range []JobKind{LoadJobs, QueryJobs} {
		if err := w.budget.check(k); err != nil {
			return res, classify(err, op, table, day, "")
		}
	}

	stage, err := w.createStaging(ctx, day)
	if err != nil {
		return res, err
	}
	defer w.dropStaging(ctx, stage)

	if err := w.loadStaging(ctx, day, stage, first, r); err != nil {
		return res, err
	}

	row, _, err := w.queryRow(ctx, op, "import", table, day, 3, w.importScript(stage),
		dayParam(day),
		bigquery.QueryParameter{Name: "run_id", Value: runID},
		bigquery.QueryParameter{Name: "created_at", Value: w.opts.Now().UTC()})
	if err != nil {
		return res, err
	}
	res.Replaced, _ = row[0].(int64)
	res.Conversations, _ = row[1].(int64)
	res.Messages, _ = row[2].(int64)
	return res, nil
}

// createStaging creates an empty staging table for an import into day.
func (w *Warehouse) createStaging(ctx context.Context, day civil.Date) (string, error) {
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", fmt.Errorf("import into partition %s: %w", day, err)
	}
	name := "turnstile_import_" + partitionSuffix(day) + "_" + hex.EncodeToString(rnd[:])
	md := &bigquery.TableMetadata{
		Description:    "staging table of a turnstile import; dropped when the import ends",
		Schema:         stagingSchema,
		ExpirationTime: w.opts.Now().Add(stagingTTL),
		Labels:         map[string]string{"app": "turnstile", "partition": partitionSuffix(day)},
	}
	if err := w.client.Dataset(w.opts.Dataset).Table(name).Create(ctx, md); err != nil {
		return "", classify(err, "create staging table", w.fqn(name), day, "")
	}
	return name, nil
}

// dropStaging deletes a staging table; it expires by itself if that fails.
func (w *Warehouse) dropStaging(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := w.client.Dataset(w.opts.Dataset).Table(name).Delete(ctx); err != nil && !isNotFound(err) {
		w.logger.Warn("could not drop import staging table; it expires by itself", "table", w.fqn(name), "err", err)
	}
}

// loadStaging streams first and the rest of r into the staging table with
// one load job.
func (w *Warehouse) loadStaging(ctx context.Context, day civil.Date, stage string, first *ingest.Conversation, r ingest.Reader) error {
	const op = "load import"
	table := w.fqn(stage)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	if err := w.budget.take(LoadJobs); err != nil {
		return classify(err, op, table, day, "")
	}
	pr, pw := io.Pipe()
	done := make(chan produced, 1)
	go func() {
		sw := newStagingWriter(pw)
		err := sw.conversation(first, 0)
		for pos := int64(1); err == nil; pos++ {
			c, nerr := r.Next()
			if errors.Is(nerr, io.EOF) {
				break
			}
			if nerr != nil {
				err = nerr
				break
			}
			err = sw.conversation(c, pos)
		}
		if err == nil {
			err = sw.flush()
		}
		pw.CloseWithError(err)
		done <- produced{err: err, pipeClosed: sw.out.err != nil}
	}()

	src := bigquery.NewReaderSource(pr)
	src.SourceFormat = bigquery.JSON
	src.Schema = stagingSchema
	loader := w.client.Dataset(w.opts.Dataset).Table(stage).LoaderFrom(src)
	loader.JobID = jobPrefix("import", day)
	loader.AddJobIDSuffix = true
	loader.Location = w.opts.Location
	loader.WriteDisposition = bigquery.WriteTruncate
	loader.CreateDisposition = bigquery.CreateNever
	loader.Labels = labels(day, "import")
	loader.MediaOptions = []googleapi.MediaOption{googleapi.ContentType("application/octet-stream")}
	if w.opts.UploadChunkSize > 0 {
		loader.MediaOptions = append(loader.MediaOptions, googleapi.ChunkSize(w.opts.UploadChunkSize))
	}
	job, err := loader.Run(ctx)
	if err != nil {
		pr.CloseWithError(err)
		if p := <-done; p.err != nil && !p.pipeClosed {
			return fmt.Errorf("import into partition %s: %w", day, p.err)
		}
		return classify(err, op, table, day, "")
	}
	if p := <-done; p.err != nil {
		return fmt.Errorf("import into partition %s: %w", day, p.err)
	}
	status, err := job.Wait(ctx)
	if err != nil {
		return classify(err, op, table, day, job.ID())
	}
	return classify(jobErr(status), op, table, day, job.ID())
}

// importScript is the transaction that moves a staging table into the
// partition; see Import.
func (w *Warehouse) importScript(stage string) string {
	st := "`" + w.fqn(stage) + "`"
	return fmt.Sprintf(`DECLARE replaced INT64;
BEGIN TRANSACTION;
SET replaced = (
  SELECT COUNT(DISTINCT conversation_id) FROM %[1]s
  WHERE ingestion_date = @day
    AND conversation_id IN (SELECT conversation_id FROM %[3]s WHERE kind = 'c'));
DELETE FROM %[2]s
WHERE ingestion_date = @day
  AND conversation_id IN (SELECT conversation_id FROM %[3]s);
DELETE FROM %[1]s
WHERE ingestion_date = @day
  AND conversation_id IN (SELECT conversation_id FROM %[3]s WHERE kind = 'c');
INSERT INTO %[1]s (conversation_id, source, title, started_at, message_count, metadata, ingestion_date, created_at, run_id)
SELECT c.conversation_id, c.source, c.title, m.started_at, IFNULL(m.message_count, 0), c.metadata, @day, @created_at, @run_id
FROM (
  SELECT conversation_id, source, title, metadata FROM %[3]s
  WHERE kind = 'c'
  QUALIFY ROW_NUMBER() OVER (PARTITION BY conversation_id ORDER BY pos) = 1
) AS c
LEFT JOIN (
  SELECT conversation_id, MIN(created_at) AS started_at, COUNT(*) AS message_count
  FROM %[3]s WHERE kind = 'm' GROUP BY conversation_id
) AS m ON m.conversation_id = c.conversation_id;
INSERT INTO %[2]s (message_id, conversation_id, seq, role, content, created_at, metadata, ingestion_date)
SELECT message_id, conversation_id, seq, role, content, created_at, metadata, @day
FROM %[3]s WHERE kind = 'm';
COMMIT TRANSACTION;
SELECT
  replaced,
  (SELECT COUNT(DISTINCT conversation_id) FROM %[3]s WHERE kind = 'c') AS conversations,
  (SELECT COUNT(*) FROM %[3]s WHERE kind = 'm') AS messages;`, w.ref(TableConversations), w.ref(TableMessages), st)
}

// stagingRow is a row of the staging table; fields a kind does not use are
// omitted (NULL).
type stagingRow struct {
	Kind           string          `json:"kind"`
	Pos            int64           `json:"pos"`
	ConversationID string          `json:"conversation_id"`
	Source         *string         `json:"source,omitempty"`
	Title          *string         `json:"title,omitempty"`
	Metadata       json.RawMessage `json:"metadata,omitempty"`
	MessageID      *string         `json:"message_id,omitempty"`
	Seq            *int64          `json:"seq,omitempty"`
	Role           *string         `json:"role,omitempty"`
	Content        *string         `json:"content,omitempty"`
	CreatedAt      *timestamp      `json:"created_at,omitempty"`
}

// stagingWriter encodes conversations as staging rows.
type stagingWriter struct {
	out *errWriter
	bw  *bufio.Writer
	enc *json.Encoder
}

func newStagingWriter(w io.Writer) *stagingWriter {
	out := &errWriter{w: w}
	bw := bufio.NewWriterSize(out, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &stagingWriter{out: out, bw: bw, enc: enc}
}

// conversation writes c (at position pos of the input) and its messages.
func (sw *stagingWriter) conversation(c *ingest.Conversation, pos int64) error {
	if c.Metadata != nil && !json.Valid(c.Metadata) {
		return fmt.Errorf("conversation %q: metadata is not valid JSON", c.ConversationID)
	}
	row := stagingRow{Kind: "c", Pos: pos, ConversationID: c.ConversationID, Source: &c.Source, Metadata: c.Metadata}
	if c.Title != "" {
		row.Title = &c.Title
	}
	if err := sw.enc.Encode(&row); err != nil {
		return fmt.Errorf("conversation %q: %w", c.ConversationID, err)
	}
	for i := range c.Messages {
		m := &c.Messages[i]
		if m.Metadata != nil && !json.Valid(m.Metadata) {
			return fmt.Errorf("conversation %q message %q: metadata is not valid JSON", c.ConversationID, m.MessageID)
		}
		row := stagingRow{Kind: "m", Pos: pos, ConversationID: m.ConversationID, MessageID: &m.MessageID, Metadata: m.Metadata}
		if row.ConversationID == "" {
			row.ConversationID = c.ConversationID
		}
		if m.HasSeq {
			row.Seq = &m.Seq
		}
		if m.HasRole {
			row.Role = &m.Role
		}
		if m.HasContent {
			row.Content = &m.Content
		}
		if !m.CreatedAt.IsZero() {
			ts := timestamp(m.CreatedAt)
			row.CreatedAt = &ts
		}
		if err := sw.enc.Encode(&row); err != nil {
			return fmt.Errorf("conversation %q message %q: %w", c.ConversationID, m.MessageID, err)
		}
	}
	return nil
}

func (sw *stagingWriter) flush() error { return sw.bw.Flush() }
