// Package config is the one place that reads turnstile's environment. It
// loads every setting with envconfig, applies defaults, and validates them,
// so that a bad value is a startup error naming the variable.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// Warehouse backends.
const (
	WarehouseDuckDB   = "duckdb"
	WarehouseBigQuery = "bigquery"
)

// Config is turnstile's whole configuration. The envconfig tag of each field
// is the exact environment variable that sets it.
type Config struct {
	Warehouse string `envconfig:"TURNSTILE_WAREHOUSE" default:"duckdb" desc:"warehouse backend: duckdb or bigquery"`

	// Table names, shared by every warehouse.
	MessagesTable      string `envconfig:"TURNSTILE_MESSAGES_TABLE" default:"messages" desc:"messages table (stage 4 output)"`
	ConversationsTable string `envconfig:"TURNSTILE_CONVERSATIONS_TABLE" default:"conversations" desc:"L8 conversations table (stage 5 output)"`
	TurnsTable         string `envconfig:"TURNSTILE_TURNS_TABLE" default:"turns" desc:"L6 turns table (stage 6 output)"`

	// DuckDB.
	DuckDBPath        string `envconfig:"TURNSTILE_DUCKDB_PATH" default:"./turnstile.duckdb" desc:"DuckDB database file"`
	DuckDBMemoryLimit string `envconfig:"TURNSTILE_DUCKDB_MEMORY_LIMIT" default:"256MB" desc:"DuckDB memory_limit; larger work spills to disk"`
	DuckDBThreads     int    `envconfig:"TURNSTILE_DUCKDB_THREADS" default:"0" desc:"DuckDB worker threads; 0 = one per core"`

	// BigQuery.
	BQProject        string `envconfig:"TURNSTILE_BQ_PROJECT" desc:"BigQuery project; default: the Pub/Sub project"`
	BQDataset        string `envconfig:"TURNSTILE_BQ_DATASET" desc:"BigQuery dataset (required with bigquery)"`
	BQLocation       string `envconfig:"TURNSTILE_BQ_LOCATION" default:"US" desc:"BigQuery location of the dataset and jobs"`
	BQDailyLoadJobs  int    `envconfig:"TURNSTILE_BQ_DAILY_LOAD_JOBS" default:"1000" desc:"load jobs turnstile may start per UTC day"`
	BQDailyQueryJobs int    `envconfig:"TURNSTILE_BQ_DAILY_QUERY_JOBS" default:"2000" desc:"query jobs turnstile may start per UTC day"`
	BQSeedBudget     bool   `envconfig:"TURNSTILE_BQ_SEED_BUDGET" default:"false" desc:"at start, count today's turnstile jobs from INFORMATION_SCHEMA.JOBS_BY_PROJECT into the budget"`
	BigQueryEmulator string `envconfig:"BIGQUERY_EMULATOR_HOST" desc:"host:port of a BigQuery emulator; no credentials are used"`

	// Pub/Sub.
	Project                string `envconfig:"TURNSTILE_PROJECT" desc:"Google Cloud project of the topics; default: GOOGLE_CLOUD_PROJECT"`
	GoogleCloudProject     string `envconfig:"GOOGLE_CLOUD_PROJECT" desc:"fallback for TURNSTILE_PROJECT"`
	PubSubEmulatorHost     string `envconfig:"PUBSUB_EMULATOR_HOST" desc:"host:port of a Pub/Sub emulator (the client library's own variable)"`
	InputTopic             string `envconfig:"TURNSTILE_INPUT_TOPIC" default:"stage5-complete" desc:"topic of stage5.complete events"`
	Subscription           string `envconfig:"TURNSTILE_SUBSCRIPTION" default:"stage5-complete-turnstile" desc:"the worker's subscription on the input topic"`
	OutputTopic            string `envconfig:"TURNSTILE_OUTPUT_TOPIC" default:"stage6-complete" desc:"topic of stage6.complete events"`
	DeadLetterTopic        string `envconfig:"TURNSTILE_DEAD_LETTER_TOPIC" default:"stage5-complete-dead-letter" desc:"dead-letter topic"`
	DeadLetterSubscription string `envconfig:"TURNSTILE_DEAD_LETTER_SUBSCRIPTION" default:"stage5-complete-dead-letter-replay" desc:"subscription on the dead-letter topic, read by replay"`
	MaxDeliveryAttempts    int    `envconfig:"TURNSTILE_MAX_DELIVERY_ATTEMPTS" default:"5" desc:"deliveries before an event is dead-lettered (5-100)"`
	MaxReplays             int    `envconfig:"TURNSTILE_MAX_REPLAYS" default:"3" desc:"times dlq replay sends one event back before it needs --force"`

	// Worker.
	MaxConcurrentPartitions int           `envconfig:"TURNSTILE_MAX_CONCURRENT_PARTITIONS" default:"2" desc:"events processed at once"`
	HTTPAddr                string        `envconfig:"TURNSTILE_HTTP_ADDR" default:":8080" desc:"address of /healthz and /readyz"`
	ShutdownTimeout         time.Duration `envconfig:"TURNSTILE_SHUTDOWN_TIMEOUT" default:"25s" desc:"time in-flight partitions get to finish on SIGTERM"`
	LogLevel                string        `envconfig:"TURNSTILE_LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
}

// Load reads the environment and validates the result.
func Load() (Config, error) {
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		return Config{}, fmt.Errorf("read configuration: %w", err)
	}
	if c.Project == "" {
		c.Project = c.GoogleCloudProject
	}
	if c.BQProject == "" {
		c.BQProject = c.Project
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// identifier is the table-name rule every warehouse accepts: BigQuery's
// table names restricted to ASCII, which are also plain DuckDB identifiers
// (at most 1024 characters, checked separately).
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// datasetName is BigQuery's dataset naming rule.
var datasetName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// resourceName is Pub/Sub's rule for topic and subscription ids.
var resourceName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$`)

// Validate reports every invalid setting, each naming its variable.
func (c Config) Validate() error {
	var errs []error
	bad := func(env, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, a...)))
	}
	switch c.Warehouse {
	case WarehouseDuckDB, WarehouseBigQuery:
	default:
		bad("TURNSTILE_WAREHOUSE", "%q is not a warehouse; use %s or %s", c.Warehouse, WarehouseDuckDB, WarehouseBigQuery)
	}
	for env, v := range map[string]string{
		"TURNSTILE_MESSAGES_TABLE":      c.MessagesTable,
		"TURNSTILE_CONVERSATIONS_TABLE": c.ConversationsTable,
		"TURNSTILE_TURNS_TABLE":         c.TurnsTable,
	} {
		if !identifier.MatchString(v) || len(v) > 1024 {
			bad(env, "%q is not a valid table name (letters, digits and underscores, not starting with a digit)", v)
		}
	}
	if c.MessagesTable == c.TurnsTable || c.ConversationsTable == c.TurnsTable || c.MessagesTable == c.ConversationsTable {
		bad("TURNSTILE_*_TABLE", "messages, conversations and turns must be three different tables")
	}
	if c.Warehouse == WarehouseDuckDB && c.DuckDBPath == "" {
		bad("TURNSTILE_DUCKDB_PATH", "must not be empty")
	}
	if c.DuckDBThreads < 0 {
		bad("TURNSTILE_DUCKDB_THREADS", "must be 0 or more, got %d", c.DuckDBThreads)
	}
	if c.Warehouse == WarehouseBigQuery {
		if c.BQProject == "" {
			bad("TURNSTILE_BQ_PROJECT", "must be set (or TURNSTILE_PROJECT / GOOGLE_CLOUD_PROJECT) when TURNSTILE_WAREHOUSE=bigquery")
		}
		if !datasetName.MatchString(c.BQDataset) || len(c.BQDataset) > 1024 {
			bad("TURNSTILE_BQ_DATASET", "%q is not a valid BigQuery dataset name (letters, digits and underscores)", c.BQDataset)
		}
	}
	if c.BQDailyLoadJobs < 1 {
		bad("TURNSTILE_BQ_DAILY_LOAD_JOBS", "must be at least 1, got %d", c.BQDailyLoadJobs)
	}
	if c.BQDailyQueryJobs < 1 {
		bad("TURNSTILE_BQ_DAILY_QUERY_JOBS", "must be at least 1, got %d", c.BQDailyQueryJobs)
	}
	for env, v := range map[string]string{
		"TURNSTILE_INPUT_TOPIC":              c.InputTopic,
		"TURNSTILE_SUBSCRIPTION":             c.Subscription,
		"TURNSTILE_OUTPUT_TOPIC":             c.OutputTopic,
		"TURNSTILE_DEAD_LETTER_TOPIC":        c.DeadLetterTopic,
		"TURNSTILE_DEAD_LETTER_SUBSCRIPTION": c.DeadLetterSubscription,
	} {
		if !resourceName.MatchString(v) || strings.HasPrefix(v, "goog") {
			bad(env, "%q is not a valid Pub/Sub name (3-255 characters, starting with a letter, not with \"goog\")", v)
		}
	}
	if c.MaxDeliveryAttempts < 5 || c.MaxDeliveryAttempts > 100 {
		bad("TURNSTILE_MAX_DELIVERY_ATTEMPTS", "Pub/Sub allows 5 to 100, got %d", c.MaxDeliveryAttempts)
	}
	if c.MaxReplays < 0 {
		bad("TURNSTILE_MAX_REPLAYS", "must be 0 or more, got %d", c.MaxReplays)
	}
	if c.MaxConcurrentPartitions < 1 {
		bad("TURNSTILE_MAX_CONCURRENT_PARTITIONS", "must be at least 1, got %d", c.MaxConcurrentPartitions)
	}
	if c.ShutdownTimeout <= 0 {
		bad("TURNSTILE_SHUTDOWN_TIMEOUT", "must be positive, got %s", c.ShutdownTimeout)
	}
	if _, err := c.SlogLevel(); err != nil {
		bad("TURNSTILE_LOG_LEVEL", "%v", err)
	}
	return errors.Join(errs...)
}

// SlogLevel is the configured log level.
func (c Config) SlogLevel() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("%q is not a log level (debug, info, warn, error)", c.LogLevel)
	}
	return l, nil
}

// LogValue logs the effective configuration. It holds no secrets (turnstile
// uses Application Default Credentials, never a key in its environment), but
// it goes through here so that one added later is redacted in one place.
func (c Config) LogValue() slog.Value {
	var attrs []slog.Attr
	v := reflect.ValueOf(c)
	t := v.Type()
	for i := range t.NumField() {
		attrs = append(attrs, slog.Any(t.Field(i).Tag.Get("envconfig"), v.Field(i).Interface()))
	}
	return slog.GroupValue(attrs...)
}

// Variables lists every environment variable Config reads, with its default
// and description, in declaration order (for docs and checks).
func Variables() []Variable {
	var out []Variable
	t := reflect.TypeOf(Config{})
	for i := range t.NumField() {
		f := t.Field(i)
		out = append(out, Variable{Name: f.Tag.Get("envconfig"), Default: f.Tag.Get("default"), Description: f.Tag.Get("desc")})
	}
	return out
}

// Variable describes one environment variable.
type Variable struct {
	Name, Default, Description string
}
