package bigquery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"google.golang.org/api/iterator"

	"github.com/turnstile-dev/turnstile/internal/turns"
	"github.com/turnstile-dev/turnstile/worker"
)

// snapshotTTL bounds how long ReadConversations reuses the input check's
// query result (BigQuery keeps it for about a day).
const snapshotTTL = time.Hour

// inputSnapshot is a finished input query that ReadConversations may read
// instead of querying again.
type inputSnapshot struct {
	jobID, location string
	created         time.Time // job creation, BigQuery's clock
	taken           time.Time // when CheckInput ran, the local clock
}

// CheckInput runs the partition's input query (see the package doc) and
// reads its first row: the number of conversations rows in partition day (0
// when the partition or its rows are missing). It is one query job, billed
// for the partition's conversation ids and message columns; it keeps the
// job for ReadConversations.
func (w *Warehouse) CheckInput(ctx context.Context, day civil.Date) (worker.InputInfo, error) {
	const op = "check input"
	table := w.inputTables()
	job, stats, err := w.query(ctx, "check_input", day, w.sql.input, dayParam(day))
	info := worker.InputInfo{Jobs: stats}
	if err != nil {
		return info, classify(err, op, table, day, jobIDOf(job))
	}
	it, err := job.Read(ctx)
	if err != nil {
		return info, classify(err, op, table, day, job.ID())
	}
	it.PageInfo().MaxSize = 1
	var row []bigquery.Value
	if err := it.Next(&row); err != nil {
		return info, classify(err, op, table, day, job.ID())
	}
	if info.Conversations, _, err = header(it.Schema, row); err != nil {
		return info, classify(err, op, table, day, job.ID())
	}

	snap := inputSnapshot{jobID: job.ID(), location: job.Location(), taken: w.opts.Now()}
	if s := job.LastStatus(); s != nil && s.Statistics != nil {
		snap.created = s.Statistics.CreationTime
	}
	w.mu.Lock()
	w.snaps[day] = snap
	w.mu.Unlock()
	return info, nil
}

// ReadConversations streams partition day's conversations with their
// messages in SPEC §4.1 order, grouped by conversation in conversation_id
// order, and counts the orphan messages. It reads the result of the input
// query that CheckInput ran for day, unless that is missing, older than an
// hour, or older than the last change to the messages or conversations
// table; then it runs the query itself (one query job). Rows are consumed
// page by page, so memory is bounded by the page size and the largest
// conversation. The slice given to fn is reused.
func (w *Warehouse) ReadConversations(ctx context.Context, day civil.Date, fn worker.ConversationFunc) (worker.ReadInfo, error) {
	const op = "read partition"
	table := w.inputTables()
	var info worker.ReadInfo

	job, ok := w.snapshotJob(ctx, day)
	if !ok {
		var err error
		job, info.Jobs, err = w.query(ctx, "read", day, w.sql.input, dayParam(day))
		if err != nil {
			return info, classify(err, op, table, day, jobIDOf(job))
		}
	}
	rj, err := w.resultReader(ctx, job)
	if err != nil {
		return info, classify(err, op, table, day, job.ID())
	}
	it, err := rj.Read(ctx)
	if err != nil {
		return info, classify(err, op, table, day, job.ID())
	}
	it.PageInfo().MaxSize = w.opts.PageRows

	var (
		row  []bigquery.Value
		msgs []turns.Message
		cur  string
		have bool
	)
	if err := it.Next(&row); err != nil {
		return info, classify(fmt.Errorf("read header row: %w", err), op, table, day, job.ID())
	}
	if _, info.OrphanMessages, err = header(it.Schema, row); err != nil {
		return info, classify(err, op, table, day, job.ID())
	}
	for {
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return info, classify(err, op, table, day, job.ID())
		}
		id, _ := row[inConversationID].(string)
		if have && id != cur {
			if id < cur {
				return info, classify(fmt.Errorf("result out of order: conversation %q after %q", id, cur), op, table, day, job.ID())
			}
			if err := fn(cur, msgs); err != nil {
				return info, err
			}
			msgs = msgs[:0]
		}
		cur, have = id, true
		if row[inMessageID] == nil {
			continue // a conversation without messages
		}
		msgs = append(msgs, messageOf(id, row))
	}
	if have {
		if err := fn(cur, msgs); err != nil {
			return info, err
		}
	}
	return info, nil
}

// DryRunBytes returns the bytes the input query of partition day would
// process (it serves both the input check and the read, see the package
// doc), without running it. Dry runs start no job and do not count against
// the budget. The output check is not included: it scans the turns
// partition after the write.
func (w *Warehouse) DryRunBytes(ctx context.Context, day civil.Date) (int64, error) {
	n, err := w.dryRun(ctx, "dry_run", day, w.sql.input, dayParam(day))
	if err != nil {
		return 0, classify(err, "dry-run input query", w.inputTables(), day, "")
	}
	return n, nil
}

func (w *Warehouse) inputTables() string {
	return w.fqn(w.opts.ConversationsTable) + " and " + w.fqn(w.opts.MessagesTable)
}

// snapshotJob returns the job of CheckInput's input query for day, and
// forgets it, when ReadConversations may read it: it is at most an hour old
// and neither input table was modified since the job was created.
func (w *Warehouse) snapshotJob(ctx context.Context, day civil.Date) (*bigquery.Job, bool) {
	w.mu.Lock()
	s, ok := w.snaps[day]
	delete(w.snaps, day)
	w.mu.Unlock()
	if !ok || s.created.IsZero() || w.opts.Now().Sub(s.taken) > snapshotTTL {
		return nil, false
	}
	ds := w.client.Dataset(w.opts.Dataset)
	for _, name := range []string{w.opts.ConversationsTable, w.opts.MessagesTable} {
		md, err := ds.Table(name).Metadata(ctx)
		if err != nil || !md.LastModifiedTime.Before(s.created) {
			return nil, false
		}
	}
	job, err := w.client.JobFromIDLocation(ctx, s.jobID, s.location)
	if err != nil {
		return nil, false
	}
	return job, true
}

// header checks the input query's schema and decodes its first row.
func header(schema bigquery.Schema, row []bigquery.Value) (conversations, orphans int64, err error) {
	if err := checkColumns(schema, inputColumns[:]); err != nil {
		return 0, 0, fmt.Errorf("input query: %w", err)
	}
	if k, _ := row[inKind].(int64); k != 0 {
		return 0, 0, errors.New("input query result does not start with its header row")
	}
	conversations, _ = row[inConversations].(int64)
	orphans, _ = row[inOrphans].(int64)
	return conversations, orphans, nil
}

// messageOf decodes a message row of the input query.
func messageOf(conversationID string, row []bigquery.Value) turns.Message {
	m := turns.Message{ConversationID: conversationID}
	m.MessageID, _ = row[inMessageID].(string)
	m.Seq, m.HasSeq = row[inSeq].(int64)
	m.Role, _ = row[inRole].(string)
	m.Content, _ = row[inContent].(string)
	m.CreatedAt, _ = row[inCreatedAt].(time.Time)
	return m
}

func jobIDOf(job *bigquery.Job) string {
	if job == nil {
		return ""
	}
	return job.ID()
}
