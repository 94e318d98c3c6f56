package duckdb

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"

	"github.com/turnstile-dev/turnstile/internal/ingest"
	"github.com/turnstile-dev/turnstile/internal/turns"
	"github.com/turnstile-dev/turnstile/worker"
)

// Benchmarks at a realistic size: partitions of 100,000 messages (10,000
// conversations of 10 messages of about 480 bytes) and 50,000 turns.
const (
	benchConvs   = 10_000
	benchPerConv = 10
	benchTurns   = 50_000
)

func BenchmarkReadConversations(b *testing.B) {
	w := openTest(b, Options{}, false)
	fillPartition(b, w, day, benchConvs, benchPerConv, 480)
	ctx := context.Background()
	var n int64
	for b.Loop() {
		_, err := w.ReadConversations(ctx, day, func(_ string, msgs []turns.Message) error {
			n += int64(len(msgs))
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "messages/s")
}

func BenchmarkReplaceTurns(b *testing.B) {
	w := openTest(b, Options{}, false)
	ts := benchTurnSet(benchTurns)
	ctx := context.Background()
	var n int64
	for b.Loop() {
		_, err := w.ReplaceTurns(ctx, worker.Replacement{
			Day: day, RunID: "bench", CreatedAt: time.Now(),
			Produce: func(_ context.Context, put worker.Put) error {
				for i := range ts {
					if err := put(&ts[i]); err != nil {
						return err
					}
				}
				return nil
			},
			Check: func(o worker.OutputInfo) error {
				if o.Rows != int64(len(ts)) {
					return fmt.Errorf("%d rows, want %d", o.Rows, len(ts))
				}
				return nil
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		n += int64(len(ts))
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "turns/s")
}

func BenchmarkImport(b *testing.B) {
	w := openTest(b, Options{}, false)
	ctx := context.Background()
	var n int64
	for b.Loop() {
		res, err := w.Import(ctx, day, "bench", &genReader{convs: benchConvs, per: benchPerConv})
		if err != nil {
			b.Fatal(err)
		}
		n += res.Messages
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "messages/s")
}

// BenchmarkPartitionIndex compares "partitioning" the turns table by
// ingestion_date through write order alone (zone maps) with an ART index
// on the column, for the replacement of one partition among several and
// the count of a partition. See the comment in schema.go.
func BenchmarkPartitionIndex(b *testing.B) {
	ts := benchTurnSet(benchTurns)
	days := []civil.Date{day, otherDay, day.AddDays(2), day.AddDays(3)}
	for _, variant := range []string{"zonemaps", "art"} {
		b.Run(variant, func(b *testing.B) {
			w := openTest(b, Options{}, false)
			if variant == "art" {
				if _, err := w.db.Exec("CREATE INDEX turns_ingestion_date ON turns (ingestion_date)"); err != nil {
					b.Fatal(err)
				}
			}
			for _, d := range days {
				mustReplace(b, w, d, ts)
			}
			var n int64
			for b.Loop() {
				mustReplace(b, w, otherDay, ts)
				var rows int64
				if err := w.db.QueryRow("SELECT count(*) FROM turns WHERE ingestion_date = DATE '2026-01-24'").Scan(&rows); err != nil {
					b.Fatal(err)
				}
				if rows != int64(len(ts)) {
					b.Fatalf("partition holds %d rows, want %d", rows, len(ts))
				}
				n += int64(len(ts))
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "turns/s")
		})
	}
}

func benchTurnSet(n int) []turns.Turn {
	ts := make([]turns.Turn, n)
	start := time.Date(2026, 1, 22, 8, 0, 0, 0, time.UTC)
	for i := range ts {
		ts[i] = turns.Turn{
			TurnID:             fmt.Sprintf("l6_%020d", i),
			ParentID:           fmt.Sprintf("l8_%020d", i/3),
			TurnIndex:          int64(i % 3),
			UserMessageIDs:     []string{fmt.Sprintf("l5_%d_u", i)},
			ResponseMessageIDs: []string{fmt.Sprintf("l5_%d_a", i), fmt.Sprintf("l5_%d_t", i)},
			UserText:           strings.Repeat("question ", 20),
			ResponseText:       strings.Repeat("answer ", 60),
			StartedAt:          start.Add(time.Duration(i) * time.Second),
			EndedAt:            start.Add(time.Duration(i+5) * time.Second),
			ResponseLatencyMS:  1200, HasLatency: i%4 != 0,
			IsComplete: true,
			Metadata:   turns.Metadata{UserMessages: 1, AssistantMessages: 1, ToolMessages: 1, UserChars: 180, ResponseChars: 420},
		}
	}
	return ts
}

// genReader yields convs synthetic conversations of per messages each,
// reusing one Conversation as file readers do.
type genReader struct {
	convs, per, i int
	c             ingest.Conversation
}

const lorem = "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. "

func (r *genReader) Next() (*ingest.Conversation, error) {
	if r.i >= r.convs {
		return nil, io.EOF
	}
	h := uint64(r.i)*0x9E3779B97F4A7C15 + 1
	r.c.ConversationID = fmt.Sprintf("l8_%016x", h)
	r.c.Source = "synthetic"
	r.c.Messages = r.c.Messages[:0]
	for m := range r.per {
		role := "user"
		if m%2 == 1 {
			role = "assistant"
		}
		content := strings.Repeat(lorem, 1+int((h>>uint(m))%7))
		r.c.Messages = append(r.c.Messages, ingest.MessageRow{
			MessageID: fmt.Sprintf("l5_%d_%d", r.i, m), ConversationID: r.c.ConversationID,
			Seq: int64(m), HasSeq: true, Role: role, HasRole: true, Content: content, HasContent: true,
		})
	}
	r.i++
	return &r.c, nil
}

func BenchmarkExportTurns(b *testing.B) {
	w := openTest(b, Options{}, false)
	ts := benchTurnSet(benchTurns)
	mustReplace(b, w, day, ts)
	ctx := context.Background()
	var n int64
	for b.Loop() {
		if err := w.ExportTurns(ctx, day, func(*turns.Row) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "turns/s")
}
