// Package worker is the stage-6 use case: one partition in, one outcome out.
// It declares the small interfaces it needs from a warehouse (ports.go) and
// knows nothing of Pub/Sub, DuckDB or BigQuery.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"cloud.google.com/go/civil"

	"github.com/turnstile-dev/turnstile/internal/turns"
)

// Request asks for one partition to be processed.
type Request struct {
	Day   civil.Date
	RunID string
	// ExpectConversations, when not nil, is the conversation_count of the
	// stage5.complete event: the input check fails unless the partition
	// holds exactly that many conversations.
	ExpectConversations *int64
	// DryRun reads and pairs but writes nothing (SPEC §6).
	DryRun bool
}

// Summary reports a processed partition. Its JSON form is what `turnstile
// process` prints.
type Summary struct {
	Partition           string    `json:"partition"`
	RunID               string    `json:"run_id"`
	DryRun              bool      `json:"dry_run"`
	TurnsTable          string    `json:"turns_table"`
	Conversations       int64     `json:"conversations"`
	SessionsProcessed   int64     `json:"sessions_processed"`
	MessagesRead        int64     `json:"messages_read"`
	TurnsCreated        int64     `json:"turns_created"`
	CompleteTurns       int64     `json:"complete_turns"`
	DuplicateMessages   int64     `json:"duplicate_messages"`
	UnknownRoleMessages int64     `json:"unknown_role_messages"`
	OrphanMessages      int64     `json:"orphan_messages"`
	EmptyConversations  int64     `json:"empty_conversations"`
	Reused              bool      `json:"reused_previous_write,omitempty"`
	Jobs                JobStats  `json:"jobs"`
	StartedAt           time.Time `json:"started_at"`
	CompletedAt         time.Time `json:"completed_at"`
	DurationMS          int64     `json:"duration_ms"`
}

// Processor runs stage 6 for one partition at a time. It is safe for
// concurrent use when its Warehouse is; callers must not run two requests
// for the same partition at once.
type Processor struct {
	Warehouse  Warehouse
	TurnsTable string // the name reported in summaries and events
	Logger     *slog.Logger
	Now        func() time.Time // defaults to time.Now
}

func (p *Processor) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Processor) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Process runs SPEC §6 steps 2-5 for req: the input check, the streaming
// read-pair-write, the atomic replacement and the output check. Every error
// it returns is a *StepError naming the step, the partition, the run and its
// class; when it returns an error, the partition's previous turns are in
// place.
func (p *Processor) Process(ctx context.Context, req Request) (Summary, error) {
	_ = turns.Stats{}
	_ = fmt.Sprint
	return Summary{}, &StepError{Step: StepInput, Partition: req.Day, RunID: req.RunID, Class: Permanent, Err: fmt.Errorf("not implemented")}
}
