package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"cloud.google.com/go/civil"

	"github.com/turnstile-dev/turnstile/internal/turns"
	"github.com/turnstile-dev/turnstile/worker"
)

// CheckInput counts the conversations rows of the partition; a missing
// partition counts zero.
func (w *Warehouse) CheckInput(ctx context.Context, day civil.Date) (worker.InputInfo, error) {
	var n int64
	q := fmt.Sprintf("SELECT count(*) FROM %s WHERE ingestion_date = CAST(? AS DATE)", quote(w.conversations))
	if err := w.db.QueryRowContext(ctx, q, dateArg(day)).Scan(&n); err != nil {
		return worker.InputInfo{}, classify(fmt.Errorf("check input partition %s of table %s: %w", day, w.conversations, err))
	}
	return worker.InputInfo{Conversations: n}, nil
}

// ReadConversations streams the partition's conversations in
// conversation_id order, each with its messages in SPEC §4.1 order (seq
// NULLS LAST, created_at NULLS LAST, message_id). A conversation_id stored
// twice in the partition is handed out once. Messages whose conversation is
// not in the partition are counted as orphans and not handed out. It stops
// at the first error fn returns and returns that error as it is.
//
// The read runs in batches of whole conversations (see batch.go), so
// DuckDB holds one batch and the Go side one conversation. All queries run
// in one transaction, so they read the same snapshot.
func (w *Warehouse) ReadConversations(ctx context.Context, day civil.Date, fn worker.ConversationFunc) (worker.ReadInfo, error) {
	info, err := w.readConversations(ctx, day, fn)
	var cb callbackError
	switch {
	case err == nil:
		return info, nil
	case errors.As(err, &cb):
		return info, cb.err
	default:
		return info, classify(fmt.Errorf("read partition %s of tables %s and %s: %w", day, w.conversations, w.messages, err))
	}
}

// callbackError carries an error of the caller's function through the read
// so that it comes back as it was returned.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

func (w *Warehouse) readConversations(ctx context.Context, day civil.Date, fn worker.ConversationFunc) (worker.ReadInfo, error) {
	var info worker.ReadInfo
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return info, err
	}
	defer tx.Rollback() // read only: nothing to commit

	d := dateArg(day)
	orphans := fmt.Sprintf(`
		SELECT count(*) FROM %[1]s m
		WHERE m.ingestion_date = CAST(? AS DATE)
		  AND NOT EXISTS (SELECT 1 FROM %[2]s c
		                  WHERE c.ingestion_date = CAST(? AS DATE) AND c.conversation_id = m.conversation_id)`,
		quote(w.messages), quote(w.conversations))
	if err := tx.QueryRowContext(ctx, orphans, d, d).Scan(&info.OrphanMessages); err != nil {
		return info, fmt.Errorf("count orphan messages: %w", err)
	}

	weights := fmt.Sprintf(`
		WITH m AS (SELECT conversation_id, sum(coalesce(strlen(content), 0) + %[3]d) AS bytes
		           FROM %[1]s WHERE ingestion_date = CAST(? AS DATE) GROUP BY conversation_id)
		SELECT c.conversation_id, coalesce(max(m.bytes), 0) + %[3]d
		FROM %[2]s c LEFT JOIN m ON m.conversation_id = c.conversation_id
		WHERE c.ingestion_date = CAST(? AS DATE)
		GROUP BY c.conversation_id`,
		quote(w.messages), quote(w.conversations), batchRowBytes)
	bounds, err := w.batchBounds(ctx, tx, weights, d, d)
	if err != nil {
		return info, err
	}
	query := func(lower string) string {
		return fmt.Sprintf(`
		SELECT c.conversation_id, m.message_id, m.seq, m.role, m.content, m.created_at
		FROM (SELECT DISTINCT conversation_id FROM %[2]s
		      WHERE ingestion_date = CAST(? AS DATE) %[3]s AND conversation_id <= ?) c
		LEFT JOIN (SELECT conversation_id, message_id, seq, role, content, created_at FROM %[1]s
		           WHERE ingestion_date = CAST(? AS DATE) %[3]s AND conversation_id <= ?) m
		       ON m.conversation_id = c.conversation_id
		ORDER BY c.conversation_id, m.seq NULLS LAST, m.created_at NULLS LAST, m.message_id`,
			quote(w.messages), quote(w.conversations), lower)
	}
	args := func(bound ...any) []any { return append(append([]any{d}, bound...), append([]any{d}, bound...)...) }
	g := grouper{fn: fn}
	err = forEachBatch(ctx, tx, bounds, "conversation_id", query, args, g.rows)
	if err != nil {
		return info, err
	}
	return info, g.flush()
}

// grouper turns sorted rows (conversation_id, message columns) into calls
// of fn, one per conversation, with a reused slice.
type grouper struct {
	fn      worker.ConversationFunc
	id      string
	started bool
	msgs    []turns.Message

	messageID, role, content sql.NullString
	seq                      sql.NullInt64
	createdAt                sql.NullTime
}

func (g *grouper) rows(rows *sql.Rows) error {
	var convID string
	for rows.Next() {
		if err := rows.Scan(&convID, &g.messageID, &g.seq, &g.role, &g.content, &g.createdAt); err != nil {
			return fmt.Errorf("scan message: %w", err)
		}
		if g.started && convID != g.id {
			if err := g.flush(); err != nil {
				return err
			}
		}
		g.id, g.started = convID, true
		if !g.messageID.Valid { // a conversation without messages
			continue
		}
		m := turns.Message{
			MessageID:      g.messageID.String,
			ConversationID: convID,
			Seq:            g.seq.Int64,
			HasSeq:         g.seq.Valid,
			Role:           g.role.String,
			Content:        g.content.String,
		}
		if g.createdAt.Valid {
			m.CreatedAt = g.createdAt.Time.UTC()
		}
		g.msgs = append(g.msgs, m)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read messages: %w", err)
	}
	return nil
}

// flush hands out the conversation in progress, if any.
func (g *grouper) flush() error {
	if !g.started {
		return nil
	}
	g.started = false
	if err := g.fn(g.id, g.msgs); err != nil {
		return callbackError{err}
	}
	clear(g.msgs) // drop the strings of the conversation handed out
	g.msgs = g.msgs[:0]
	return nil
}
