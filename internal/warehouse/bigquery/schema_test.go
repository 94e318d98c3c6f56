package bigquery

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bq "google.golang.org/api/bigquery/v2"

	"github.com/turnstile-dev/turnstile/worker"
)

// The tables of SPEC §2 as "name TYPE MODE".
var (
	wantMessagesSchema = []string{
		"message_id STRING REQUIRED",
		"conversation_id STRING REQUIRED",
		"seq INTEGER NULLABLE",
		"role STRING NULLABLE",
		"content STRING NULLABLE",
		"created_at TIMESTAMP NULLABLE",
		"metadata JSON NULLABLE",
		"ingestion_date DATE REQUIRED",
	}
	wantConversationsSchema = []string{
		"conversation_id STRING REQUIRED",
		"source STRING REQUIRED",
		"title STRING NULLABLE",
		"started_at TIMESTAMP NULLABLE",
		"message_count INTEGER NULLABLE",
		"metadata JSON NULLABLE",
		"ingestion_date DATE REQUIRED",
		"created_at TIMESTAMP REQUIRED",
		"run_id STRING NULLABLE",
	}
)

func TestSchemaJSON(t *testing.T) {
	tests := []struct {
		table string
		want  []string
	}{
		{"messages", wantMessagesSchema},
		{"conversations", wantConversationsSchema},
		{"turns", wantTurnsSchema},
	}
	for _, tc := range tests {
		t.Run(tc.table, func(t *testing.T) {
			b, err := SchemaJSON(tc.table)
			if err != nil {
				t.Fatalf("SchemaJSON: %v", err)
			}
			// The bq / Terraform form: an array of objects with name, type, mode.
			var fs []struct {
				Name, Type, Mode string
			}
			if err := json.Unmarshal(b, &fs); err != nil {
				t.Fatalf("not a JSON array of fields: %v\n%s", err, b)
			}
			var got []string
			for _, f := range fs {
				got = append(got, f.Name+" "+f.Type+" "+f.Mode)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("schema (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := SchemaJSON("sessions"); err == nil || !strings.Contains(err.Error(), "sessions") {
		t.Errorf("SchemaJSON(sessions) error = %v, want one naming the table", err)
	}
}

func TestEnsureSchemaCreatesWhatIsMissing(t *testing.T) {
	f := newFakeBQ(t)
	w := f.newWarehouse(t, func(o *Options) { o.TurnsTable = "l6_turns" })
	f.addTable("ds", "l6_turns", &bq.TableSchema{Fields: toBQFields(wantTurnsSchema)}, time.Now())
	f.tables["ds.l6_turns"].Clustering = &bq.Clustering{Fields: []string{"parent_id"}}

	created, err := w.EnsureSchema(context.Background())
	if err != nil {
		t.Fatalf("EnsureSchema: %v", err)
	}
	if diff := cmp.Diff([]string{"proj.ds", "proj.ds.messages", "proj.ds.conversations"}, created); diff != "" {
		t.Errorf("created (-want +got):\n%s", diff)
	}
	if loc := f.datasets["ds"].Location; loc != "EU" {
		t.Errorf("dataset location %q, want EU", loc)
	}
	for _, tc := range []struct {
		table   string
		schema  []string
		cluster string
	}{
		{"messages", wantMessagesSchema, "conversation_id"},
		{"conversations", wantConversationsSchema, "conversation_id"},
	} {
		tbl := f.tables["ds."+tc.table]
		if tbl == nil {
			t.Errorf("table %s not created", tc.table)
			continue
		}
		if diff := cmp.Diff(tc.schema, schemaSpec(tbl.Schema)); diff != "" {
			t.Errorf("%s schema (-want +got):\n%s", tc.table, diff)
		}
		if tp := tbl.TimePartitioning; tp == nil || tp.Type != "DAY" || tp.Field != "ingestion_date" {
			t.Errorf("%s partitioning = %+v, want DAY on ingestion_date", tc.table, tp)
		}
		if c := tbl.Clustering; c == nil || len(c.Fields) != 1 || c.Fields[0] != tc.cluster {
			t.Errorf("%s clustering = %+v, want %s", tc.table, c, tc.cluster)
		}
	}
	for _, r := range f.requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/tables") && strings.Contains(r.Path, "l6_turns") {
			t.Errorf("existing turns table was written to: %s", r.Path)
		}
	}
	if n := len(f.inserts()); n != 0 {
		t.Errorf("EnsureSchema started %d jobs, want 0", n)
	}

	// A second run creates nothing.
	created, err = w.EnsureSchema(context.Background())
	if err != nil || len(created) != 0 {
		t.Errorf("second EnsureSchema = %v, %v; want nothing created", created, err)
	}
}

func TestEnsureSchemaCreatesTurnsTableAsSpecified(t *testing.T) {
	f := newFakeBQ(t)
	w := f.newWarehouse(t, nil)
	if _, err := w.EnsureSchema(context.Background()); err != nil {
		t.Fatalf("EnsureSchema: %v", err)
	}
	tbl := f.tables["ds.turns"]
	if diff := cmp.Diff(wantTurnsSchema, schemaSpec(tbl.Schema)); diff != "" {
		t.Errorf("turns schema (-want +got):\n%s", diff)
	}
	if c := tbl.Clustering; c == nil || len(c.Fields) != 1 || c.Fields[0] != "parent_id" {
		t.Errorf("turns clustering = %+v, want parent_id", c)
	}
	if err := w.Ping(context.Background()); err != nil {
		t.Errorf("Ping after EnsureSchema: %v", err)
	}
}

func TestPingReportsUnfitTables(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*bq.Table)
		missing bool
		want    string
	}{
		{name: "missing table", missing: true, want: "turnstile setup"},
		{
			name:   "string dates",
			mutate: func(t *bq.Table) { setType(t, "ingestion_date", "STRING") },
			want:   "column ingestion_date is STRING, want DATE",
		},
		{
			name:   "string metadata",
			mutate: func(t *bq.Table) { setType(t, "metadata", "STRING") },
			want:   "column metadata is STRING, want JSON",
		},
		{
			name:   "other clustering",
			mutate: func(t *bq.Table) { t.Clustering = &bq.Clustering{Fields: []string{"turn_id"}} },
			want:   "clustered by [turn_id], want [parent_id]",
		},
		{
			name:   "ingestion-time partitioning",
			mutate: func(t *bq.Table) { t.TimePartitioning = &bq.TimePartitioning{Type: "DAY"} },
			want:   "not DAY partitioned on ingestion_date",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeBQ(t)
			w := f.newWarehouse(t, nil)
			if _, err := w.EnsureSchema(context.Background()); err != nil {
				t.Fatalf("EnsureSchema: %v", err)
			}
			f.mu.Lock()
			if tc.missing {
				delete(f.tables, "ds.turns")
			} else {
				tc.mutate(f.tables["ds.turns"])
			}
			f.mu.Unlock()
			err := w.Ping(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Ping error = %v, want one containing %q", err, tc.want)
			}
			if worker.ClassOf(err) != worker.Permanent {
				t.Errorf("class %s, want permanent", worker.ClassOf(err))
			}
		})
	}
}

func setType(t *bq.Table, column, typ string) {
	for _, f := range t.Schema.Fields {
		if f.Name == column {
			f.Type = typ
		}
	}
}

// toBQFields builds API fields from "name TYPE MODE" lines.
func toBQFields(spec []string) []*bq.TableFieldSchema {
	var out []*bq.TableFieldSchema
	for _, s := range spec {
		p := strings.Fields(s)
		out = append(out, &bq.TableFieldSchema{Name: p[0], Type: p[1], Mode: p[2]})
	}
	return out
}

func TestValidateNames(t *testing.T) {
	long := strings.Repeat("a", 1025)
	tests := []struct {
		name        string
		dataset     bool // valid as a dataset
		table       bool // valid as a table
		description string
	}{
		{"turns", true, true, "plain"},
		{"L6_turns_2026", true, true, "letters, digits, underscore"},
		{"_hidden", true, true, "leading underscore"},
		{"turns-v2", false, true, "dash"},
		{"my turns", false, true, "space"},
		{"тurns", false, true, "non-ASCII letter"},
		{"turns$20260122", false, false, "partition decorator"},
		{"turns`; DROP", false, false, "backtick"},
		{"a.b", false, false, "dot"},
		{"", false, false, "empty"},
		{long, false, false, "too long"},
	}
	for _, tc := range tests {
		t.Run(tc.description, func(t *testing.T) {
			if err := ValidateDatasetName(tc.name); (err == nil) != tc.dataset {
				t.Errorf("ValidateDatasetName(%.20q) = %v, want valid=%t", tc.name, err, tc.dataset)
			}
			if err := ValidateTableName(tc.name); (err == nil) != tc.table {
				t.Errorf("ValidateTableName(%.20q) = %v, want valid=%t", tc.name, err, tc.table)
			}
		})
	}
}

func TestNewRejectsBadNames(t *testing.T) {
	f := newFakeBQ(t)
	for _, modify := range []func(*Options){
		func(o *Options) { o.Dataset = "bad-dataset" },
		func(o *Options) { o.TurnsTable = "turns$20260122" },
		func(o *Options) { o.Project = "" },
		func(o *Options) { o.DailyLoadJobs = -1 },
	} {
		opts := f.testOptions()
		modify(&opts)
		if w, err := New(context.Background(), opts); err == nil {
			_ = w.Close()
			t.Errorf("New(%+v) succeeded, want an error", opts)
		}
	}
}
