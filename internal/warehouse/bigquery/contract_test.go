package bigquery

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
	"time"

	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"

	"github.com/turnstile-dev/turnstile/internal/ingest"
	"github.com/turnstile-dev/turnstile/internal/warehouse/warehousetest"
)

// The contract suite runs against a real BigQuery project or an emulator:
//
//	TURNSTILE_BQ_TEST_PROJECT=my-project [TURNSTILE_BQ_TEST_LOCATION=EU] \
//	  go test ./internal/warehouse/bigquery/ -run Contract
//
// with Application Default Credentials (gcloud auth application-default
// login, or GOOGLE_APPLICATION_CREDENTIALS) allowed to create and delete
// datasets and run jobs; or with BIGQUERY_EMULATOR_HOST=host:port. Each case
// creates a dataset turnstile_test_<random> and deletes it afterwards.
// TURNSTILE_REQUIRE_BIGQUERY=1 turns the skip into a failure.
const howToRun = "set TURNSTILE_BQ_TEST_PROJECT (with Application Default Credentials; optionally TURNSTILE_BQ_TEST_LOCATION, default US) " +
	"or BIGQUERY_EMULATOR_HOST=host:port to run the warehouse contract suite against BigQuery"

func TestContract(t *testing.T) {
	project := os.Getenv("TURNSTILE_BQ_TEST_PROJECT")
	emulator := os.Getenv("BIGQUERY_EMULATOR_HOST")
	location := os.Getenv("TURNSTILE_BQ_TEST_LOCATION")
	if location == "" {
		location = "US"
	}
	skip := func(why string) {
		if os.Getenv("TURNSTILE_REQUIRE_BIGQUERY") == "1" {
			t.Fatalf("%s, and TURNSTILE_REQUIRE_BIGQUERY=1: %s", why, howToRun)
		}
		t.Skipf("%s: %s", why, howToRun)
	}
	switch {
	case emulator != "":
		if project == "" {
			project = "test"
		}
	case project == "":
		skip("no BigQuery configured")
	default:
		if _, err := credentials.DetectDefault(&credentials.DetectOptions{Scopes: []string{bigquery.Scope}}); err != nil {
			skip("TURNSTILE_BQ_TEST_PROJECT is set but no Application Default Credentials were found (" + err.Error() + ")")
		}
	}

	open := func(t *testing.T) warehousetest.Warehouse {
		ctx := context.Background()
		var rnd [4]byte
		_, _ = rand.Read(rnd[:])
		opts := Options{
			Project:      project,
			Dataset:      "turnstile_test_" + hex.EncodeToString(rnd[:]),
			Location:     location,
			EmulatorHost: emulator,
		}
		w, err := New(ctx, opts)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := w.client.Dataset(opts.Dataset).DeleteWithContents(ctx); err != nil {
				t.Errorf("delete test dataset %s: %v", opts.Dataset, err)
			}
			_ = w.Close()
		})
		if _, err := w.EnsureSchema(ctx); err != nil {
			t.Fatalf("EnsureSchema: %v", err)
		}
		return w
	}
	warehousetest.Run(t, open, warehousetest.InsertMessages(insertMessages))
}

// insertMessages appends message rows to partition day of the messages
// table with a load job, without their conversations.
func insertMessages(t *testing.T, wh warehousetest.Warehouse, day civil.Date, rows []ingest.MessageRow) {
	t.Helper()
	w := wh.(*Warehouse)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, m := range rows {
		row := map[string]any{"message_id": m.MessageID, "conversation_id": m.ConversationID, "ingestion_date": day.String()}
		if m.HasSeq {
			row["seq"] = m.Seq
		}
		if m.HasRole {
			row["role"] = m.Role
		}
		if m.HasContent {
			row["content"] = m.Content
		}
		if !m.CreatedAt.IsZero() {
			row["created_at"] = timestamp(m.CreatedAt)
		}
		if m.Metadata != nil {
			row["metadata"] = json.RawMessage(m.Metadata)
		}
		if err := enc.Encode(row); err != nil {
			t.Fatalf("encode message row: %v", err)
		}
	}
	src := bigquery.NewReaderSource(&buf)
	src.SourceFormat = bigquery.JSON
	src.Schema = messagesSchema
	loader := w.client.Dataset(w.opts.Dataset).Table(w.opts.MessagesTable).LoaderFrom(src)
	loader.WriteDisposition = bigquery.WriteAppend
	loader.CreateDisposition = bigquery.CreateNever
	ctx := context.Background()
	job, err := loader.Run(ctx)
	if err != nil {
		t.Fatalf("load message rows: %v", err)
	}
	status, err := job.Wait(ctx)
	if err == nil {
		err = jobErr(status)
	}
	if err != nil {
		t.Fatalf("load message rows: %v", err)
	}
}
