package worker

import (
	"context"

	"github.com/turnstile-dev/turnstile/internal/turns"
)

// Pipeline sizes: turns per batch, and batches in flight between the reader
// and the writer. Memory held is about (pipelineDepth+2) batches of turns.
const (
	batchTurns    = 512
	pipelineDepth = 4
)

// turnBatch is a batch of turns copied out of the pairing engine; ids is
// the arena their message-id slices point into.
type turnBatch struct {
	turns []turns.Turn
	ids   []string
}

func (b *turnBatch) add(t *turns.Turn) {
	c := *t
	n := len(b.ids)
	b.ids = append(b.ids, t.UserMessageIDs...)
	b.ids = append(b.ids, t.ResponseMessageIDs...)
	// Slices into the arena stay valid if a later append moves it: the old
	// array is not written again until the batch is recycled.
	c.UserMessageIDs = b.ids[n : n+len(t.UserMessageIDs) : n+len(t.UserMessageIDs)]
	c.ResponseMessageIDs = b.ids[n+len(t.UserMessageIDs) : len(b.ids) : len(b.ids)]
	b.turns = append(b.turns, c)
}

// pipeline runs read on a goroutine of its own and passes every turn it
// emits to put on the calling goroutine, so that reading and pairing
// overlap with writing. It returns put's first error, else read's. When
// either fails, the other is stopped through ctx.
func pipeline(ctx context.Context, read func(ctx context.Context, emit func(*turns.Turn) error) error, put Put) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	full := make(chan *turnBatch, pipelineDepth)
	free := make(chan *turnBatch, pipelineDepth+2)
	for range pipelineDepth + 2 {
		free <- &turnBatch{turns: make([]turns.Turn, 0, batchTurns)}
	}

	readErr := make(chan error, 1)
	go func() {
		defer close(full)
		b := <-free
		send := func() error {
			select {
			case full <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case b = <-free:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		err := read(ctx, func(t *turns.Turn) error {
			b.add(t)
			if len(b.turns) == batchTurns {
				return send()
			}
			return nil
		})
		if err == nil && len(b.turns) > 0 {
			err = send()
		}
		readErr <- err
	}()

	var putErr error
	for b := range full {
		for i := range b.turns {
			if putErr != nil {
				break
			}
			if putErr = put(&b.turns[i]); putErr != nil {
				cancel()
			}
		}
		b.turns, b.ids = b.turns[:0], b.ids[:0]
		free <- b
	}
	if err := <-readErr; putErr == nil {
		return err
	}
	return putErr
}
