// Package turns is the pure stage-6 domain: it orders one conversation's
// messages and pairs them into turns (SPEC §4). It performs no I/O, reads no
// clock and needs no context; callers feed it one conversation at a time, so
// nothing here ever holds a whole partition.
package turns

import (
	"time"

	"cloud.google.com/go/civil"
)

// Role is a normalised message role (SPEC §4.1).
type Role uint8

// The normalised roles. RoleUnknown covers NULL and every raw role that the
// table of SPEC §4.1 does not list; such messages are skipped and counted.
const (
	RoleUnknown Role = iota
	RoleUser
	RoleAssistant
	RoleSystem
	RoleTool
)

// Message is one row of the messages table as stage 6 needs it. NULL columns
// are represented by zero values plus a validity flag where the zero value is
// meaningful.
type Message struct {
	MessageID      string
	ConversationID string
	Seq            int64
	HasSeq         bool // false when seq is NULL
	Role           string
	Content        string    // "" when NULL
	CreatedAt      time.Time // zero when NULL (unknown)
}

// Metadata is the JSON object stored in turns.metadata. Character counts are
// Unicode code points of user_text and response_text.
type Metadata struct {
	UserMessages       int  `json:"user_messages"`
	AssistantMessages  int  `json:"assistant_messages"`
	ToolMessages       int  `json:"tool_messages"`
	SystemMessages     int  `json:"system_messages"`
	UserChars          int  `json:"user_chars"`
	ResponseChars      int  `json:"response_chars"`
	AssistantInitiated bool `json:"assistant_initiated"`
}

// Turn is one L6 turn: a user's message(s) and the response to them. The
// columns that are the same for a whole partition (ingestion_date,
// created_at, run_id) are added by the writer, not stored here.
type Turn struct {
	TurnID             string
	ParentID           string
	TurnIndex          int64
	UserMessageIDs     []string
	ResponseMessageIDs []string
	UserText           string
	ResponseText       string
	StartedAt          time.Time // zero when no message of the turn has a time
	EndedAt            time.Time // zero when no message of the turn has a time
	ResponseLatencyMS  int64
	HasLatency         bool // false when response_latency_ms is NULL
	IsComplete         bool
	Metadata           Metadata
}

// Stats counts what pairing one or more conversations saw. It is additive:
// callers sum it across the conversations of a partition.
type Stats struct {
	Messages           int64 // messages given to the engine, duplicates included
	Duplicates         int64 // repeated message ids dropped (SPEC §4.1)
	UnknownRole        int64 // messages skipped for an unknown or NULL role
	Turns              int64
	CompleteTurns      int64
	Conversations      int64 // conversations paired
	WithTurns          int64 // conversations that produced at least one turn
	EmptyConversations int64 // conversations that had no message at all
}

// Add adds o to s.
func (s *Stats) Add(o Stats) {
	s.Messages += o.Messages
	s.Duplicates += o.Duplicates
	s.UnknownRole += o.UnknownRole
	s.Turns += o.Turns
	s.CompleteTurns += o.CompleteTurns
	s.Conversations += o.Conversations
	s.WithTurns += o.WithTurns
	s.EmptyConversations += o.EmptyConversations
}

// Row is a turn as stored in the turns table: the turn plus the columns that
// the writer adds for the whole partition.
type Row struct {
	Turn
	IngestionDate civil.Date
	CreatedAt     time.Time
	RunID         string
}
