// Package ingest parses chat exports (SPEC §8: sharegpt, openai, ndjson) into
// conversations and message rows, one conversation at a time, so that files
// of any size stream.
package ingest

import (
	"context"
	"encoding/json"
	"time"

	"cloud.google.com/go/civil"
)

// MessageRow is one row of the messages table, stored as given: NULL columns
// stay NULL (the Has* flags are false), unknown roles and repeated ids are
// kept. ingestion_date comes from the import's partition.
type MessageRow struct {
	MessageID      string
	ConversationID string
	Seq            int64
	HasSeq         bool
	Role           string
	HasRole        bool
	Content        string
	HasContent     bool
	CreatedAt      time.Time       // zero when NULL
	Metadata       json.RawMessage // nil when NULL; otherwise valid JSON
}

// Conversation is one L8 conversation with its messages.
type Conversation struct {
	ConversationID string
	Source         string
	Title          string          // "" is stored as NULL
	Metadata       json.RawMessage // nil when NULL; otherwise valid JSON
	Messages       []MessageRow
}

// Reader yields conversations one at a time. Next returns io.EOF after the
// last one. An error other than io.EOF names the position in the input
// (line, or array index) and what was wrong there. The returned value is
// only valid until the next call to Next.
type Reader interface {
	Next() (*Conversation, error)
}

// Result reports an import.
type Result struct {
	Conversations int64 `json:"conversations"`
	Messages      int64 `json:"messages"`
	// Replaced counts conversations of the partition that the import
	// replaced because the input held the same conversation_id.
	Replaced int64 `json:"replaced"`
}

// Store is where imports land. An import is all or nothing: when r fails
// part-way, nothing of it is stored. Conversations the input contains
// (same conversation_id) replace those already in the partition, with
// their messages; the partition's other conversations are left alone.
// A conversation_id that appears in several places of one input is merged:
// its conversation row is stored once and all its messages are kept.
type Store interface {
	Import(ctx context.Context, day civil.Date, runID string, r Reader) (Result, error)
}
