package duckdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"cloud.google.com/go/civil"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/turnstile-dev/turnstile/internal/ingest"
)

// Staging tables of an import: temporary, so private to the import's
// connection, and created inside its transaction, so a rollback drops them.
const (
	stageConversations = "turnstile_stage_conversations"
	stageMessages      = "turnstile_stage_messages"
)

// Import loads the conversations r yields into the partition day of the
// messages and conversations tables, all or nothing, streaming: every row
// is appended to staging tables inside one transaction, then the
// partition's conversations with the same conversation_id (and all their
// messages) are deleted and the staged rows inserted. A conversation_id
// seen several times in the input becomes one conversation row (source,
// title and metadata of its first occurrence) with all its messages.
// started_at is the earliest message created_at, message_count the number
// of messages; created_at is the import time and run_id is runID.
//
// When r fails, or the input is invalid (an empty conversation id, message
// id or source, a message naming another conversation, metadata that is not
// JSON), nothing is stored; invalid input is a permanent error naming the
// conversation's position in the input.
func (w *Warehouse) Import(ctx context.Context, day civil.Date, runID string, r ingest.Reader) (ingest.Result, error) {
	res, err := w.importPartition(ctx, day, runID, r)
	if err != nil {
		return ingest.Result{}, classify(fmt.Errorf("import into partition %s of tables %s and %s: %w", day, w.conversations, w.messages, err))
	}
	return res, nil
}

func (w *Warehouse) importPartition(ctx context.Context, day civil.Date, runID string, r ingest.Reader) (ingest.Result, error) {
	var res ingest.Result
	if !day.IsValid() {
		return res, badInput("invalid date")
	}
	// Imports of one partition run one after the other, so that two imports
	// of the same new conversation cannot both insert it.
	unlock, err := w.lockPartition(ctx, w.conversations, day)
	if err != nil {
		return res, fmt.Errorf("wait for another import of the partition: %w", err)
	}
	defer unlock()

	tx, err := w.beginWrite(ctx)
	if err != nil {
		return res, err
	}
	defer tx.rollback(ctx)

	// Metadata is staged as text (validate checked it) and cast to JSON by
	// the inserts.
	for _, q := range []string{
		"CREATE OR REPLACE TEMP TABLE " + stageConversations + " (ord BIGINT, conversation_id VARCHAR, source VARCHAR, title VARCHAR, metadata VARCHAR)",
		"CREATE OR REPLACE TEMP TABLE " + stageMessages + " (message_id VARCHAR, conversation_id VARCHAR, seq BIGINT, role VARCHAR, content VARCHAR, created_at TIMESTAMPTZ, metadata VARCHAR)",
	} {
		if _, err := tx.exec(ctx, q); err != nil {
			return res, fmt.Errorf("create staging table: %w", err)
		}
	}

	specs := []appenderSpec{tableAppender("temp", stageConversations), tableAppender("temp", stageMessages)}
	err = tx.appenders(ctx, specs, func(a []*duckdb.Appender) error {
		return stage(ctx, r, a[0], a[1])
	})
	if err != nil {
		return res, err
	}

	d := dateArg(day)
	conv, msgs := quote(w.conversations), quote(w.messages)
	staged := "(SELECT conversation_id FROM temp." + stageConversations + ")"
	err = tx.conn.QueryRowContext(ctx, fmt.Sprintf(`
		SELECT count(DISTINCT conversation_id) FROM %s
		WHERE ingestion_date = CAST(? AS DATE) AND conversation_id IN %s`, conv, staged), d).Scan(&res.Replaced)
	if err != nil {
		return res, fmt.Errorf("count replaced conversations: %w", err)
	}
	for _, table := range []string{msgs, conv} {
		q := fmt.Sprintf(`DELETE FROM %s WHERE ingestion_date = CAST(? AS DATE) AND conversation_id IN %s`, table, staged)
		if _, err := tx.exec(ctx, q, d); err != nil {
			return res, fmt.Errorf("delete replaced conversations from %s: %w", table, err)
		}
	}
	// Rows go in sorted by conversation_id: the zone maps of the row groups
	// then let a read batch skip the other conversations (see batch.go).
	res.Conversations, err = tx.exec(ctx, fmt.Sprintf(`
		INSERT INTO %[1]s
		SELECT c.conversation_id, c.source, c.title, s.started_at, coalesce(s.n, 0), CAST(c.metadata AS JSON),
		       CAST(? AS DATE), CAST(? AS TIMESTAMPTZ), ?
		FROM (SELECT * FROM temp.%[2]s
		      QUALIFY row_number() OVER (PARTITION BY conversation_id ORDER BY ord) = 1) c
		LEFT JOIN (SELECT conversation_id, min(created_at) AS started_at, count(*) AS n
		           FROM temp.%[3]s GROUP BY conversation_id) s
		       ON s.conversation_id = c.conversation_id
		ORDER BY c.conversation_id`, conv, stageConversations, stageMessages),
		d, w.now().UTC(), runID)
	if err != nil {
		return res, fmt.Errorf("insert conversations: %w", err)
	}
	res.Messages, err = tx.exec(ctx, fmt.Sprintf(`
		INSERT INTO %s
		SELECT message_id, conversation_id, seq, role, content, created_at, CAST(metadata AS JSON), CAST(? AS DATE)
		FROM temp.%s
		ORDER BY conversation_id`, msgs, stageMessages), d)
	if err != nil {
		return res, fmt.Errorf("insert messages: %w", err)
	}
	for _, t := range []string{stageConversations, stageMessages} {
		if _, err := tx.exec(ctx, "DROP TABLE temp."+t); err != nil {
			return res, fmt.Errorf("drop staging table: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, tx.commit(ctx)
}

// stage appends every conversation and message r yields to the staging
// tables.
func stage(ctx context.Context, r ingest.Reader, convs, msgs *duckdb.Appender) error {
	for ord := int64(0); ; ord++ {
		if ord%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		c, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read input: %w", err)
		}
		if err := validate(ord, c); err != nil {
			return err
		}
		err = convs.AppendRow(ord, c.ConversationID, c.Source, nullString(c.Title, c.Title != ""), nullJSON(c.Metadata))
		if err != nil {
			return fmt.Errorf("stage conversation %q: %w", c.ConversationID, err)
		}
		for i := range c.Messages {
			m := &c.Messages[i]
			var seq any
			if m.HasSeq {
				seq = m.Seq
			}
			err := msgs.AppendRow(
				m.MessageID,
				c.ConversationID,
				seq,
				nullString(m.Role, m.HasRole),
				nullString(m.Content, m.HasContent),
				nullTime(m.CreatedAt),
				nullJSON(m.Metadata),
			)
			if err != nil {
				return fmt.Errorf("stage message %q of conversation %q: %w", m.MessageID, c.ConversationID, err)
			}
		}
	}
}

// validate checks what the tables' constraints and types need; ord is the
// conversation's 0-based position in the input.
func validate(ord int64, c *ingest.Conversation) error {
	where := func() string { return fmt.Sprintf("conversation %d (id %q) of the input", ord, c.ConversationID) }
	switch {
	case c.ConversationID == "":
		return badInput("conversation %d of the input: empty conversation id", ord)
	case c.Source == "":
		return badInput("%s: empty source", where())
	case c.Metadata != nil && !json.Valid(c.Metadata):
		return badInput("%s: metadata is not valid JSON", where())
	}
	for i := range c.Messages {
		m := &c.Messages[i]
		switch {
		case m.MessageID == "":
			return badInput("%s: message %d has an empty message id", where(), i)
		case m.ConversationID != "" && m.ConversationID != c.ConversationID:
			return badInput("%s: message %q names conversation %q", where(), m.MessageID, m.ConversationID)
		case m.Metadata != nil && !json.Valid(m.Metadata):
			return badInput("%s: metadata of message %q is not valid JSON", where(), m.MessageID)
		}
	}
	return nil
}

func nullString(s string, valid bool) any {
	if !valid {
		return nil
	}
	return s
}

// nullJSON is NULL for nil, else the JSON text. It is staged as VARCHAR and
// cast to JSON by the insert: validate has checked it already.
func nullJSON(m json.RawMessage) any {
	if m == nil {
		return nil
	}
	return []byte(m)
}
