// Package worker is the stage-6 use case: one partition in, one outcome out.
// It declares the small interfaces it needs from a warehouse (ports.go) and
// knows nothing of Pub/Sub, DuckDB or BigQuery.
package worker

import (
	"context"
	"errors"
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
	// Progress, when set, is called with the running totals every
	// progressEvery conversations of a long partition.
	Progress func(turns.Stats)
}

const progressEvery = 10000

// DryRunner is implemented by warehouses that can say what their queries
// would scan without running them (BigQuery).
type DryRunner interface {
	DryRunBytes(ctx context.Context, day civil.Date) (int64, error)
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
	start := p.now()
	s := Summary{
		Partition:  req.Day.String(),
		RunID:      req.RunID,
		DryRun:     req.DryRun,
		TurnsTable: p.TurnsTable,
		StartedAt:  start.UTC(),
	}
	fail := func(step Step, err error) (Summary, error) {
		return s, stepErr(step, req.Day, req.RunID, err)
	}
	if !req.Day.IsValid() {
		return fail(StepDecode, MarkPermanent(fmt.Errorf("partition %q is not a valid date", req.Day)))
	}
	if req.RunID == "" {
		return fail(StepDecode, MarkPermanent(errors.New("run id is empty")))
	}

	// Step 2: the partition exists, holds conversations, and matches the
	// event's conversation_count.
	in, err := p.Warehouse.CheckInput(ctx, req.Day)
	s.Jobs.Add(in.Jobs)
	if err != nil {
		return fail(StepInput, err)
	}
	s.Conversations = in.Conversations
	if in.Conversations == 0 {
		return fail(StepInput, fmt.Errorf("partition %s holds no conversations: %w", req.Day, ErrNotReady))
	}
	if req.ExpectConversations != nil && *req.ExpectConversations != in.Conversations {
		return fail(StepInput, fmt.Errorf("partition %s holds %d conversations, the event announced %d: %w",
			req.Day, in.Conversations, *req.ExpectConversations, ErrNotReady))
	}

	// Step 3: stream conversations, pair each, hand the turns to put.
	var (
		stats turns.Stats
		read  ReadInfo
	)
	produce := func(ctx context.Context, put Put) error {
		var pairer turns.Pairer
		return pipeline(ctx, func(ctx context.Context, emit func(*turns.Turn) error) error {
			var emitErr error
			record := func(t *turns.Turn) error {
				emitErr = emit(t)
				return emitErr
			}
			var err error
			read, err = p.Warehouse.ReadConversations(ctx, req.Day, func(id string, msgs []turns.Message) error {
				cs, err := pairer.Pair(id, msgs, record)
				stats.Add(cs)
				switch {
				case err != nil && emitErr != nil:
					return err // the writer stopped, or ctx ended
				case err != nil:
					return MarkPermanent(err) // a message id no turn id can be made of
				}
				if p.Progress != nil && stats.Conversations%progressEvery == 0 {
					p.Progress(stats)
				}
				return nil
			})
			return stepErr(StepRead, req.Day, req.RunID, err)
		}, put)
	}
	finish := func() {
		s.SessionsProcessed = stats.WithTurns
		s.MessagesRead = stats.Messages
		s.TurnsCreated = stats.Turns
		s.CompleteTurns = stats.CompleteTurns
		s.DuplicateMessages = stats.Duplicates
		s.UnknownRoleMessages = stats.UnknownRole
		s.EmptyConversations = stats.EmptyConversations
		s.OrphanMessages = read.OrphanMessages
		s.Jobs.Add(read.Jobs)
		s.CompletedAt = p.now().UTC()
		s.DurationMS = s.CompletedAt.Sub(start).Milliseconds()
	}

	if req.DryRun {
		err := produce(ctx, func(*turns.Turn) error { return nil })
		finish()
		if err != nil {
			return s, err
		}
		if d, ok := p.Warehouse.(DryRunner); ok {
			bytes, err := d.DryRunBytes(ctx, req.Day)
			if err != nil {
				return fail(StepRead, err)
			}
			s.Jobs.BytesProcessed = bytes
		}
		p.logger().InfoContext(ctx, "partition paired (dry run)", "partition", s.Partition, "run_id", s.RunID, "turns", s.TurnsCreated)
		return s, nil
	}

	// Steps 4 and 5: replace the partition atomically; check what it holds
	// before the replacement becomes visible where the warehouse allows.
	rep, err := p.Warehouse.ReplaceTurns(ctx, Replacement{
		Day:       req.Day,
		RunID:     req.RunID,
		CreatedAt: start.UTC(),
		Produce:   produce,
		Check: func(o OutputInfo) error {
			var err error
			switch {
			case o.Rows != stats.Turns:
				err = fmt.Errorf("partition %s holds %d turns after the write, %d were written", req.Day, o.Rows, stats.Turns)
			case o.UnknownParents != 0:
				err = fmt.Errorf("partition %s holds %d turns whose parent_id is not a conversation of the partition", req.Day, o.UnknownParents)
			}
			return stepErr(StepOutput, req.Day, req.RunID, err)
		},
	})
	s.Jobs.Add(rep.Jobs)
	s.Jobs.Add(rep.Output.Jobs)
	finish()
	if err != nil {
		// Errors of Produce and Check already name their step.
		return fail(StepReplace, err)
	}
	s.Reused = rep.Reused
	p.logger().InfoContext(ctx, "partition processed",
		"partition", s.Partition, "run_id", s.RunID, "conversations", s.Conversations,
		"messages", s.MessagesRead, "turns", s.TurnsCreated, "duration_ms", s.DurationMS)
	return s, nil
}
