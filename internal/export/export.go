// Package export writes turns rows as JSON Lines with the column names of
// SPEC §2, metadata as a JSON object.
package export

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/turnstile-dev/turnstile/internal/turns"
)

// row is the JSON form of one turns row. Nullable columns are pointers so
// that NULL is written as null.
type row struct {
	TurnID             string          `json:"turn_id"`
	ParentID           string          `json:"parent_id"`
	TurnIndex          int64           `json:"turn_index"`
	UserMessageIDs     []string        `json:"user_message_ids"`
	ResponseMessageIDs []string        `json:"response_message_ids"`
	UserText           string          `json:"user_text"`
	ResponseText       string          `json:"response_text"`
	StartedAt          *time.Time      `json:"started_at"`
	EndedAt            *time.Time      `json:"ended_at"`
	ResponseLatencyMS  *int64          `json:"response_latency_ms"`
	IsComplete         bool            `json:"is_complete"`
	Metadata           *turns.Metadata `json:"metadata"`
	IngestionDate      string          `json:"ingestion_date"`
	CreatedAt          time.Time       `json:"created_at"`
	RunID              string          `json:"run_id"`
}

// Writer writes rows as JSON Lines. It buffers: call Flush when done.
type Writer struct {
	w   *bufio.Writer
	enc *json.Encoder
	n   int64
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer {
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &Writer{w: bw, enc: enc}
}

// Write writes one row as a line.
func (w *Writer) Write(r *turns.Row) error {
	out := row{
		TurnID:             r.TurnID,
		ParentID:           r.ParentID,
		TurnIndex:          r.TurnIndex,
		UserMessageIDs:     nonNil(r.UserMessageIDs),
		ResponseMessageIDs: nonNil(r.ResponseMessageIDs),
		UserText:           r.UserText,
		ResponseText:       r.ResponseText,
		StartedAt:          timePtr(r.StartedAt),
		EndedAt:            timePtr(r.EndedAt),
		IsComplete:         r.IsComplete,
		Metadata:           &r.Metadata,
		IngestionDate:      r.IngestionDate.String(),
		CreatedAt:          r.CreatedAt.UTC(),
		RunID:              r.RunID,
	}
	if r.HasLatency {
		l := r.ResponseLatencyMS
		out.ResponseLatencyMS = &l
	}
	if err := w.enc.Encode(&out); err != nil {
		return fmt.Errorf("write turn %s: %w", r.TurnID, err)
	}
	w.n++
	return nil
}

// Rows is the number of rows written so far.
func (w *Writer) Rows() int64 { return w.n }

// Flush writes any buffered data.
func (w *Writer) Flush() error { return w.w.Flush() }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
