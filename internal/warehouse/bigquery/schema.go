package bigquery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"google.golang.org/api/googleapi"

	"github.com/turnstile-dev/turnstile/worker"
)

// The logical tables of SPEC §2, as named by SchemaJSON and `turnstile
// schema --table NAME`. Their BigQuery names come from Options.
const (
	TableMessages      = "messages"
	TableConversations = "conversations"
	TableTurns         = "turns"
)

// partitionColumn is the DATE column every table is partitioned on.
const partitionColumn = "ingestion_date"

func col(name string, typ bigquery.FieldType, required bool, desc string) *bigquery.FieldSchema {
	return &bigquery.FieldSchema{Name: name, Type: typ, Required: required, Description: desc}
}

func repeated(name string, typ bigquery.FieldType, desc string) *bigquery.FieldSchema {
	return &bigquery.FieldSchema{Name: name, Type: typ, Repeated: true, Description: desc}
}

// messagesSchema is the messages table of SPEC §2 (stage 4 output).
var messagesSchema = bigquery.Schema{
	col("message_id", bigquery.StringFieldType, true, "unique within its conversation"),
	col("conversation_id", bigquery.StringFieldType, true, "the L8 conversation"),
	col("seq", bigquery.IntegerFieldType, false, "position in the conversation when known"),
	col("role", bigquery.StringFieldType, false, "raw role as exported"),
	col("content", bigquery.StringFieldType, false, "text; may be NULL or empty"),
	col("created_at", bigquery.TimestampFieldType, false, "message time when known"),
	col("metadata", bigquery.JSONFieldType, false, "free-form"),
	col(partitionColumn, bigquery.DateFieldType, true, "partition"),
}

// conversationsSchema is the L8 conversations table of SPEC §2 (stage 5
// output).
var conversationsSchema = bigquery.Schema{
	col("conversation_id", bigquery.StringFieldType, true, "L8 entity id"),
	col("source", bigquery.StringFieldType, true, "e.g. sharegpt, openai"),
	col("title", bigquery.StringFieldType, false, ""),
	col("started_at", bigquery.TimestampFieldType, false, ""),
	col("message_count", bigquery.IntegerFieldType, false, ""),
	col("metadata", bigquery.JSONFieldType, false, ""),
	col(partitionColumn, bigquery.DateFieldType, true, "partition"),
	col("created_at", bigquery.TimestampFieldType, true, ""),
	col("run_id", bigquery.StringFieldType, false, "the stage-5 run"),
}

// turnsSchema is the L6 turns table of SPEC §2 (stage 6 output), and the
// explicit schema of every turns load job.
var turnsSchema = bigquery.Schema{
	col("turn_id", bigquery.StringFieldType, true, "L6 entity id"),
	col("parent_id", bigquery.StringFieldType, true, "the L8 conversation_id"),
	col("turn_index", bigquery.IntegerFieldType, true, "0-based position in the conversation"),
	repeated("user_message_ids", bigquery.StringFieldType, "in order"),
	repeated("response_message_ids", bigquery.StringFieldType, "assistant and tool messages, in order"),
	col("user_text", bigquery.StringFieldType, false, "non-empty user contents joined with two newlines"),
	col("response_text", bigquery.StringFieldType, false, "non-empty assistant contents joined with two newlines"),
	col("started_at", bigquery.TimestampFieldType, false, "earliest known created_at in the turn"),
	col("ended_at", bigquery.TimestampFieldType, false, "latest known created_at in the turn"),
	col("response_latency_ms", bigquery.IntegerFieldType, false, "first assistant time minus last user time"),
	col("is_complete", bigquery.BooleanFieldType, false, "the user got an answer in words"),
	col("metadata", bigquery.JSONFieldType, false, "message counts and character counts"),
	col(partitionColumn, bigquery.DateFieldType, true, "the partition it came from"),
	col("created_at", bigquery.TimestampFieldType, true, "when stage 6 wrote it"),
	col("run_id", bigquery.StringFieldType, true, "the run id of the event that produced it"),
}

// tableSpec is one table of SPEC §2 as BigQuery creates it.
type tableSpec struct {
	logical     string
	schema      bigquery.Schema
	clustering  []string
	description string
}

var tableSpecs = []tableSpec{
	{TableMessages, messagesSchema, []string{"conversation_id"}, "messages (stage 4 output, stage 6 input)"},
	{TableConversations, conversationsSchema, []string{"conversation_id"}, "L8 conversations (stage 5 output, stage 6 input)"},
	{TableTurns, turnsSchema, []string{"parent_id"}, "L6 turns (stage 6 output)"},
}

func specOf(logical string) (tableSpec, bool) {
	for _, s := range tableSpecs {
		if s.logical == logical {
			return s, true
		}
	}
	return tableSpec{}, false
}

// SchemaJSON returns the BigQuery schema of a table of SPEC §2 (messages,
// conversations or turns) in the JSON form that `bq mk --schema`, `bq load`
// and Terraform's google_bigquery_table accept: an array of
// {"name", "type", "mode", "description"} objects. The tables are DAY
// partitioned on ingestion_date and clustered as EnsureSchema creates them.
func SchemaJSON(table string) ([]byte, error) {
	spec, ok := specOf(table)
	if !ok {
		return nil, fmt.Errorf("schema of table %q: unknown table; want %s, %s or %s",
			table, TableMessages, TableConversations, TableTurns)
	}
	type field struct {
		Name        string `json:"name"`
		Type        string `json:"type"`
		Mode        string `json:"mode"`
		Description string `json:"description,omitempty"`
	}
	fields := make([]field, len(spec.schema))
	for i, f := range spec.schema {
		mode := "NULLABLE"
		switch {
		case f.Repeated:
			mode = "REPEATED"
		case f.Required:
			mode = "REQUIRED"
		}
		fields[i] = field{Name: f.Name, Type: string(f.Type), Mode: mode, Description: f.Description}
	}
	return json.MarshalIndent(fields, "", "  ")
}

// isNotFound reports whether err is BigQuery's 404.
func isNotFound(err error) bool {
	var api *googleapi.Error
	return errors.As(err, &api) && api.Code == http.StatusNotFound
}

// isConflict reports whether err is BigQuery's 409 (already exists).
func isConflict(err error) bool {
	var api *googleapi.Error
	return errors.As(err, &api) && api.Code == http.StatusConflict
}

// EnsureSchema creates what is missing of the dataset (in Options.Location)
// and the messages, conversations and turns tables, with the column types of
// SPEC §2, DAY partitioning on ingestion_date and clustering (messages and
// conversations by conversation_id, turns by parent_id). It returns the
// fully qualified names of what it created. Existing tables are left alone,
// but when one does not fit SPEC §2 (a missing column, another type, other
// partitioning) EnsureSchema says so in a permanent error after creating the
// rest. It starts no job.
func (w *Warehouse) EnsureSchema(ctx context.Context) (created []string, err error) {
	ds := w.client.Dataset(w.opts.Dataset)
	dsName := w.opts.Project + "." + w.opts.Dataset
	if _, err := ds.Metadata(ctx); err != nil {
		if !isNotFound(err) {
			return nil, classify(err, "get dataset", dsName, civil.Date{}, "")
		}
		md := &bigquery.DatasetMetadata{Location: w.opts.Location, Description: "turnstile: chat messages, conversations and turns"}
		if err := ds.Create(ctx, md); err != nil && !isConflict(err) {
			return nil, classify(err, "create dataset", dsName, civil.Date{}, "")
		}
		created = append(created, dsName)
	}
	var mismatches []string
	for _, spec := range tableSpecs {
		name := w.tableName(spec.logical)
		md, err := ds.Table(name).Metadata(ctx)
		if err == nil {
			mismatches = append(mismatches, checkTable(w.fqn(name), spec, md)...)
			continue
		}
		if !isNotFound(err) {
			return created, classify(err, "get table", w.fqn(name), civil.Date{}, "")
		}
		tm := &bigquery.TableMetadata{
			Description:      spec.description,
			Schema:           spec.schema,
			TimePartitioning: &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType, Field: partitionColumn},
			Clustering:       &bigquery.Clustering{Fields: spec.clustering},
			Labels:           map[string]string{"app": "turnstile"},
		}
		if err := ds.Table(name).Create(ctx, tm); err != nil && !isConflict(err) {
			return created, classify(err, "create table", w.fqn(name), civil.Date{}, "")
		}
		created = append(created, w.fqn(name))
	}
	if len(mismatches) > 0 {
		return created, schemaMismatch(mismatches)
	}
	return created, nil
}

// Ping checks that the dataset and the three tables exist and fit SPEC §2.
// It reads table metadata only and starts no job.
func (w *Warehouse) Ping(ctx context.Context) error {
	ds := w.client.Dataset(w.opts.Dataset)
	var mismatches []string
	for _, spec := range tableSpecs {
		name := w.tableName(spec.logical)
		md, err := ds.Table(name).Metadata(ctx)
		if err != nil {
			return classify(err, "get table", w.fqn(name), civil.Date{}, "")
		}
		mismatches = append(mismatches, checkTable(w.fqn(name), spec, md)...)
	}
	if len(mismatches) > 0 {
		return schemaMismatch(mismatches)
	}
	return nil
}

// schemaMismatch is the permanent error for tables that do not fit SPEC §2.
func schemaMismatch(problems []string) error {
	return worker.MarkPermanent(&Error{
		Op:     "check schema",
		Reason: "schemaMismatch",
		Hint:   hintSchema,
		Err:    errors.New(strings.Join(problems, "; ")),
	})
}

// canonicalType maps BigQuery's type aliases to the names the API reports.
func canonicalType(t bigquery.FieldType) string {
	switch s := strings.ToUpper(string(t)); s {
	case "INT64":
		return "INTEGER"
	case "BOOL":
		return "BOOLEAN"
	case "FLOAT64":
		return "FLOAT"
	case "STRUCT":
		return "RECORD"
	default:
		return s
	}
}

// checkTable lists how the existing table md (named name) differs from spec
// in what turnstile relies on: each column's presence, type and repetition,
// DAY partitioning on ingestion_date and, for turns, the clustering. Extra
// columns are allowed.
func checkTable(name string, spec tableSpec, md *bigquery.TableMetadata) []string {
	have := make(map[string]*bigquery.FieldSchema, len(md.Schema))
	for _, f := range md.Schema {
		have[f.Name] = f
	}
	var problems []string
	for _, want := range spec.schema {
		got, ok := have[want.Name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("table %s has no column %s (want %s)", name, want.Name, want.Type))
		case canonicalType(got.Type) != canonicalType(want.Type):
			problems = append(problems, fmt.Sprintf("table %s column %s is %s, want %s", name, want.Name, got.Type, want.Type))
		case got.Repeated != want.Repeated:
			problems = append(problems, fmt.Sprintf("table %s column %s repeated=%t, want repeated=%t", name, want.Name, got.Repeated, want.Repeated))
		}
	}
	tp := md.TimePartitioning
	if tp == nil || tp.Field != partitionColumn || (tp.Type != "" && tp.Type != bigquery.DayPartitioningType) {
		problems = append(problems, fmt.Sprintf("table %s is not DAY partitioned on %s", name, partitionColumn))
	}
	if spec.logical == TableTurns {
		// Loads into the turns partition state this clustering, and
		// BigQuery rejects a WRITE_TRUNCATE whose specification differs.
		var got []string
		if md.Clustering != nil {
			got = md.Clustering.Fields
		}
		if !slices.Equal(got, spec.clustering) {
			problems = append(problems, fmt.Sprintf("table %s is clustered by %v, want %v", name, got, spec.clustering))
		}
	}
	return problems
}
