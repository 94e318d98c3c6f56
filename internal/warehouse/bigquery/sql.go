package bigquery

import (
	"fmt"
	"strings"
)

// statements are the queries of a Warehouse, built once from its
// configured table names. Values always travel as query parameters.
type statements struct {
	input  string // @day: header row, then the partition's messages
	output string // @day: turns rows and unknown parents
	export string // @day: the partition's turns
}

// Columns of the input query's result, in order.
const (
	inKind = iota
	inConversations
	inOrphans
	inConversationID
	inMessageID
	inSeq
	inRole
	inContent
	inCreatedAt
	inColumns
)

var inputColumns = [inColumns]string{
	"kind", "conversations", "orphans", "conversation_id", "message_id", "seq", "role", "content", "created_at",
}

// Columns of the export query's result, in order.
const (
	exTurnID = iota
	exParentID
	exTurnIndex
	exUserMessageIDs
	exResponseMessageIDs
	exUserText
	exResponseText
	exStartedAt
	exEndedAt
	exLatency
	exIsComplete
	exMetadata
	exIngestionDate
	exCreatedAt
	exRunID
	exColumns
)

func (w *Warehouse) statements() statements {
	conv, msgs, turns := w.ref(TableConversations), w.ref(TableMessages), w.ref(TableTurns)

	// The input query is the input check and the partition read in one job.
	// Its first row (kind 0) holds the partition's conversation rows and
	// orphan messages (messages whose conversation_id is not a conversation
	// of the partition); every other row (kind 1) is a conversation with one
	// of its messages, or with NULL message columns when it has none, in
	// SPEC §4.1 order. Both tables are read only in partition @day.
	input := fmt.Sprintf(`WITH
  conv AS (SELECT conversation_id FROM %[1]s WHERE ingestion_date = @day),
  msg AS (
    SELECT message_id, conversation_id, seq, role, content, created_at
    FROM %[2]s WHERE ingestion_date = @day)
SELECT
  0 AS kind,
  (SELECT COUNT(*) FROM conv) AS conversations,
  (SELECT COUNT(*) FROM msg WHERE conversation_id NOT IN (SELECT conversation_id FROM conv)) AS orphans,
  CAST(NULL AS STRING) AS conversation_id,
  CAST(NULL AS STRING) AS message_id,
  CAST(NULL AS INT64) AS seq,
  CAST(NULL AS STRING) AS role,
  CAST(NULL AS STRING) AS content,
  CAST(NULL AS TIMESTAMP) AS created_at
UNION ALL
SELECT 1, NULL, NULL, c.conversation_id, m.message_id, m.seq, m.role, m.content, m.created_at
FROM (SELECT DISTINCT conversation_id FROM conv) AS c
LEFT JOIN msg AS m ON m.conversation_id = c.conversation_id
ORDER BY kind, conversation_id, seq NULLS LAST, created_at NULLS LAST, message_id`, conv, msgs)

	output := fmt.Sprintf(`SELECT
  COUNT(*) AS turn_rows,
  COUNTIF(c.conversation_id IS NULL) AS unknown_parents
FROM %[1]s AS t
LEFT JOIN (SELECT DISTINCT conversation_id FROM %[2]s WHERE ingestion_date = @day) AS c
  ON c.conversation_id = t.parent_id
WHERE t.ingestion_date = @day`, turns, conv)

	export := fmt.Sprintf(`SELECT %s
FROM %s
WHERE ingestion_date = @day
ORDER BY parent_id, turn_index`, strings.Join(turnsColumns(), ", "), turns)

	return statements{input: input, output: output, export: export}
}

// turnsColumns are the columns of the turns table in schema order.
func turnsColumns() []string {
	cols := make([]string, len(turnsSchema))
	for i, f := range turnsSchema {
		cols[i] = f.Name
	}
	return cols
}
