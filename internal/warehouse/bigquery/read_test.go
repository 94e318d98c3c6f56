package bigquery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"github.com/google/go-cmp/cmp"
	bq "google.golang.org/api/bigquery/v2"

	"github.com/turnstile-dev/turnstile/internal/turns"
	"github.com/turnstile-dev/turnstile/worker"
)

var testDay = civil.Date{Year: 2026, Month: 1, Day: 22}

// inputSchema is the result schema of the input query as BigQuery reports it.
var inputSchema = fields("kind:INTEGER", "conversations:INTEGER", "orphans:INTEGER", "conversation_id:STRING",
	"message_id:STRING", "seq:INTEGER", "role:STRING", "content:STRING", "created_at:TIMESTAMP")

// inputRows is an input query result: header, then c1 with two messages, c2
// with none, c3 with three (NULL seq, role, content and time included).
func inputRows() []*bq.TableRow {
	t1 := time.Date(2026, 1, 22, 8, 0, 0, 123456000, time.UTC)
	t2 := time.Date(2026, 1, 22, 9, 30, 0, 0, time.UTC)
	return []*bq.TableRow{
		cells(0, 3, 2, nil, nil, nil, nil, nil, nil),
		cells(1, nil, nil, "c1", "m1", 0, "user", "hi", t1),
		cells(1, nil, nil, "c1", "m2", 1, "assistant", "hello", nil),
		cells(1, nil, nil, "c2", nil, nil, nil, nil, nil),
		cells(1, nil, nil, "c3", "m3", nil, nil, nil, t2),
		cells(1, nil, nil, "c3", "m4", nil, " Human ", "", nil),
		cells(1, nil, nil, "c3", "m5", nil, "gpt", "answer", nil),
	}
}

type conversation struct {
	ID   string
	Msgs []turns.Message
}

func wantConversations() []conversation {
	t1 := time.Date(2026, 1, 22, 8, 0, 0, 123456000, time.UTC)
	t2 := time.Date(2026, 1, 22, 9, 30, 0, 0, time.UTC)
	return []conversation{
		{"c1", []turns.Message{
			{MessageID: "m1", ConversationID: "c1", Seq: 0, HasSeq: true, Role: "user", Content: "hi", CreatedAt: t1},
			{MessageID: "m2", ConversationID: "c1", Seq: 1, HasSeq: true, Role: "assistant", Content: "hello"},
		}},
		{"c2", []turns.Message{}},
		{"c3", []turns.Message{
			{MessageID: "m3", ConversationID: "c3", CreatedAt: t2},
			{MessageID: "m4", ConversationID: "c3", Role: " Human "},
			{MessageID: "m5", ConversationID: "c3", Role: "gpt", Content: "answer"},
		}},
	}
}

// collect returns a ConversationFunc that copies what it receives.
func collect(got *[]conversation) worker.ConversationFunc {
	return func(id string, msgs []turns.Message) error {
		*got = append(*got, conversation{id, append([]turns.Message{}, msgs...)})
		return nil
	}
}

func inputOutcome(q *bq.JobConfigurationQuery) queryOutcome {
	return queryOutcome{Schema: inputSchema, Rows: inputRows(), Bytes: 4096}
}

func TestReadConversationsAcrossPages(t *testing.T) {
	for _, pageSize := range []int{1, 2, 3, 1000} {
		t.Run(fmt.Sprintf("page of %d rows", pageSize), func(t *testing.T) {
			f := newFakeBQ(t)
			f.pageSize = pageSize
			f.query = inputOutcome
			w := f.newWarehouse(t, nil)

			var got []conversation
			info, err := w.ReadConversations(context.Background(), testDay, collect(&got))
			if err != nil {
				t.Fatalf("ReadConversations: %v", err)
			}
			if diff := cmp.Diff(wantConversations(), got); diff != "" {
				t.Errorf("conversations (-want +got):\n%s", diff)
			}
			wantInfo := worker.ReadInfo{OrphanMessages: 2, Jobs: worker.JobStats{QueryJobs: 1, BytesProcessed: 4096}}
			if diff := cmp.Diff(wantInfo, info); diff != "" {
				t.Errorf("ReadInfo (-want +got):\n%s", diff)
			}

			pages := 0
			for _, r := range f.requests() {
				if strings.Contains(r.Path, "/queries/") && r.Query.Get("maxResults") != "0" {
					pages++
				}
			}
			if want := (len(inputRows()) + pageSize - 1) / pageSize; pages != want {
				t.Errorf("getQueryResults pages = %d, want %d", pages, want)
			}
		})
	}
}

func TestReadQuerySentToBigQuery(t *testing.T) {
	f := newFakeBQ(t)
	f.query = inputOutcome
	w := f.newWarehouse(t, func(o *Options) {
		o.MessagesTable, o.ConversationsTable = "msgs_v2", "convs_v2"
	})
	if _, err := w.ReadConversations(context.Background(), testDay, func(string, []turns.Message) error { return nil }); err != nil {
		t.Fatalf("ReadConversations: %v", err)
	}
	ins := f.queryInserts()
	if len(ins) != 1 {
		t.Fatalf("query jobs inserted = %d, want 1", len(ins))
	}
	job := ins[0].Job
	q := job.Configuration.Query
	for _, want := range []string{
		"FROM `proj.ds.convs_v2` WHERE ingestion_date = @day",
		"FROM `proj.ds.msgs_v2` WHERE ingestion_date = @day",
		"ORDER BY kind, conversation_id, seq NULLS LAST, created_at NULLS LAST, message_id",
	} {
		if !strings.Contains(q.Query, want) {
			t.Errorf("query lacks %q:\n%s", want, q.Query)
		}
	}
	if got := strings.Count(q.Query, "@day"); got != 2 {
		t.Errorf("query filters on @day %d times, want 2 (one per table)", got)
	}
	if diff := cmp.Diff(map[string]string{"day": "DATE=2026-01-22"}, params(q)); diff != "" {
		t.Errorf("parameters (-want +got):\n%s", diff)
	}
	if q.UseLegacySql == nil || *q.UseLegacySql {
		t.Errorf("useLegacySql = %v, want false", q.UseLegacySql)
	}
	wantLabels := map[string]string{"app": "turnstile", "partition": "20260122", "step": "read"}
	if diff := cmp.Diff(wantLabels, job.Configuration.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if id := job.JobReference.JobId; !strings.HasPrefix(id, "turnstile_read_20260122-") {
		t.Errorf("job id %q, want prefix turnstile_read_20260122-", id)
	}
	if loc := job.JobReference.Location; loc != "EU" {
		t.Errorf("job location %q, want EU", loc)
	}
}

func TestReadStopsAtCallbackError(t *testing.T) {
	f := newFakeBQ(t)
	f.query = inputOutcome
	w := f.newWarehouse(t, nil)
	stop := errors.New("stop")
	calls := 0
	_, err := w.ReadConversations(context.Background(), testDay, func(string, []turns.Message) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Errorf("error = %v, want the callback's", err)
	}
	if calls != 1 {
		t.Errorf("callback called %d times, want 1", calls)
	}
}

func TestReadRejectsUnorderedResult(t *testing.T) {
	f := newFakeBQ(t)
	f.query = func(*bq.JobConfigurationQuery) queryOutcome {
		rows := []*bq.TableRow{
			cells(0, 2, 0, nil, nil, nil, nil, nil, nil),
			cells(1, nil, nil, "c2", "m1", 0, "user", "a", nil),
			cells(1, nil, nil, "c1", "m2", 0, "user", "b", nil),
		}
		return queryOutcome{Schema: inputSchema, Rows: rows}
	}
	w := f.newWarehouse(t, nil)
	_, err := w.ReadConversations(context.Background(), testDay, func(string, []turns.Message) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "out of order") {
		t.Errorf("error = %v, want out of order", err)
	}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestCheckInputThenReadIsOneQuery(t *testing.T) {
	tests := []struct {
		name      string
		modified  time.Duration // input tables' last change, relative to now
		later     time.Duration // time between CheckInput and ReadConversations
		wantReuse bool
	}{
		{name: "unchanged tables reuse the check's result", modified: -time.Hour, wantReuse: true},
		{name: "a changed table queries again", modified: time.Hour},
		{name: "an old check queries again", modified: -time.Hour, later: 2 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeBQ(t)
			f.query = inputOutcome
			f.addTable("ds", "conversations", nil, time.Now().Add(tc.modified))
			f.addTable("ds", "messages", nil, time.Now().Add(-time.Hour))
			clk := &clock{t: testNow}
			w := f.newWarehouse(t, func(o *Options) { o.Now = clk.now })

			in, err := w.CheckInput(context.Background(), testDay)
			if err != nil {
				t.Fatalf("CheckInput: %v", err)
			}
			wantIn := worker.InputInfo{Conversations: 3, Jobs: worker.JobStats{QueryJobs: 1, BytesProcessed: 4096}}
			if diff := cmp.Diff(wantIn, in); diff != "" {
				t.Errorf("InputInfo (-want +got):\n%s", diff)
			}
			clk.add(tc.later)

			var got []conversation
			info, err := w.ReadConversations(context.Background(), testDay, collect(&got))
			if err != nil {
				t.Fatalf("ReadConversations: %v", err)
			}
			if diff := cmp.Diff(wantConversations(), got); diff != "" {
				t.Errorf("conversations (-want +got):\n%s", diff)
			}
			wantJobs, wantInserts := worker.JobStats{}, 1
			if !tc.wantReuse {
				wantJobs, wantInserts = worker.JobStats{QueryJobs: 1, BytesProcessed: 4096}, 2
			}
			if diff := cmp.Diff(worker.ReadInfo{OrphanMessages: 2, Jobs: wantJobs}, info); diff != "" {
				t.Errorf("ReadInfo (-want +got):\n%s", diff)
			}
			if n := len(f.queryInserts()); n != wantInserts {
				t.Errorf("query jobs inserted = %d, want %d", n, wantInserts)
			}
			if got := w.Budget().QueryJobs; got != wantInserts {
				t.Errorf("query jobs counted = %d, want %d", got, wantInserts)
			}
		})
	}
}

func TestCheckInputMissingTableIsPermanent(t *testing.T) {
	f := newFakeBQ(t)
	f.query = func(*bq.JobConfigurationQuery) queryOutcome {
		return queryOutcome{
			Err:  &bq.ErrorProto{Reason: "notFound", Message: "Not found: Table proj:ds.conversations was not found in location EU"},
			Code: 404,
		}
	}
	w := f.newWarehouse(t, nil)
	_, err := w.CheckInput(context.Background(), testDay)
	if err == nil {
		t.Fatal("CheckInput succeeded, want an error")
	}
	if c := worker.ClassOf(err); c != worker.Permanent {
		t.Errorf("class = %s, want permanent", c)
	}
	for _, want := range []string{"check input", "proj.ds.conversations", "2026-01-22", "turnstile setup"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestDryRunBytes(t *testing.T) {
	f := newFakeBQ(t)
	f.query = func(q *bq.JobConfigurationQuery) queryOutcome { return queryOutcome{Bytes: 123456} }
	w := f.newWarehouse(t, func(o *Options) { o.DailyQueryJobs = 1 })
	n, err := w.DryRunBytes(context.Background(), testDay)
	if err != nil {
		t.Fatalf("DryRunBytes: %v", err)
	}
	if n != 123456 {
		t.Errorf("bytes = %d, want 123456", n)
	}
	ins := f.queryInserts()
	if len(ins) != 1 || !ins[0].Job.Configuration.DryRun {
		t.Fatalf("inserts = %+v, want one dry run", ins)
	}
	if !strings.Contains(ins[0].Job.Configuration.Query.Query, "ingestion_date = @day") {
		t.Errorf("dry run is not of the input query: %s", ins[0].Job.Configuration.Query.Query)
	}
	if got := w.Budget().QueryJobs; got != 0 {
		t.Errorf("query jobs counted = %d, want 0 (dry runs start no job)", got)
	}
}
