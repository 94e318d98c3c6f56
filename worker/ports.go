package worker

import (
	"context"
	"time"

	"cloud.google.com/go/civil"

	"github.com/turnstile-dev/turnstile/internal/turns"
)

// JobStats is what a warehouse call cost in warehouse jobs. DuckDB reports
// zeros; BigQuery reports the jobs it started and the bytes they processed
// (or, in a dry run, would process).
type JobStats struct {
	QueryJobs      int   `json:"query_jobs"`
	LoadJobs       int   `json:"load_jobs"`
	BytesProcessed int64 `json:"bytes_processed"`
}

// Add adds o to j.
func (j *JobStats) Add(o JobStats) {
	j.QueryJobs += o.QueryJobs
	j.LoadJobs += o.LoadJobs
	j.BytesProcessed += o.BytesProcessed
}

// InputInfo is the result of the input check query (SPEC §6 step 2).
type InputInfo struct {
	Conversations int64 // conversations rows in the partition
	Jobs          JobStats
}

// ReadInfo is what streaming a partition observed beyond the conversations it
// handed out.
type ReadInfo struct {
	// OrphanMessages counts messages of the partition whose conversation_id
	// is not a conversation of the partition; they are not paired.
	OrphanMessages int64
	Jobs           JobStats
}

// OutputInfo is what the warehouse found in the partition after writing it
// (SPEC §6 step 5).
type OutputInfo struct {
	Rows           int64 // turns rows in the partition
	UnknownParents int64 // rows whose parent_id is not a conversation of the partition
	Jobs           JobStats
}

// ConversationFunc receives one conversation of a partition with all of its
// messages, in conversation_id order. msgs may be empty (a conversation with
// no message). The slice is only valid during the call: the reader reuses it.
type ConversationFunc func(conversationID string, msgs []turns.Message) error

// Source reads stage 6's input.
type Source interface {
	// CheckInput counts the partition's conversations. A missing partition
	// is not an error: it reports zero.
	CheckInput(ctx context.Context, day civil.Date) (InputInfo, error)
	// ReadConversations streams the partition's conversations, each with its
	// messages in SPEC §4.1 order (seq NULLS LAST, created_at NULLS LAST,
	// message_id), without holding more than one conversation in memory.
	// It stops at the first error fn returns and returns that error.
	ReadConversations(ctx context.Context, day civil.Date, fn ConversationFunc) (ReadInfo, error)
}

// Put writes one turn. The turn and its slices may be reused by the caller
// after Put returns.
type Put func(t *turns.Turn) error

// Replacement describes one atomic replacement of a turns partition.
type Replacement struct {
	Day       civil.Date
	RunID     string
	CreatedAt time.Time // the created_at of every row written
	// Produce writes every turn of the partition through put and returns
	// the first error; the warehouse calls it exactly once.
	Produce func(ctx context.Context, put Put) error
	// Check is called, after Produce returned nil, with what the partition
	// holds once every turn is written. For a warehouse with transactions it runs before commit, so
	// an error from Check rolls the replacement back.
	Check func(OutputInfo) error
}

// ReplaceInfo reports a finished replacement.
type ReplaceInfo struct {
	Output OutputInfo
	Jobs   JobStats // jobs of the write itself (e.g. one load job)
	// Reused is true when the warehouse found the replacement already done
	// by an earlier delivery of the same event (e.g. a BigQuery job with
	// the same job id) and did not write again.
	Reused bool
}

// Sink writes stage 6's output.
type Sink interface {
	// ReplaceTurns replaces the partition of the turns table with the
	// turns that r.Produce writes, atomically: readers see the old
	// partition or the new one, and on any error the old one stays.
	ReplaceTurns(ctx context.Context, r Replacement) (ReplaceInfo, error)
}

// Warehouse is a Source and a Sink.
type Warehouse interface {
	Source
	Sink
}
