package bigquery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"google.golang.org/api/option"

	"github.com/turnstile-dev/turnstile/internal/ingest"
	"github.com/turnstile-dev/turnstile/worker"
)

var (
	_ worker.Warehouse = (*Warehouse)(nil)
	_ ingest.Store     = (*Warehouse)(nil)
)

// Defaults of Options.
const (
	DefaultDailyLoadJobs  = 1000
	DefaultDailyQueryJobs = 2000
	defaultPageRows       = 10000
)

// Options configure a Warehouse. They are plain values: the config package
// reads the environment; table and dataset names come from there, never
// from event data.
type Options struct {
	Project  string // the project that owns the dataset and runs the jobs
	Dataset  string
	Location string // dataset and job location, e.g. "EU", "US", "europe-west1"

	// Table names; empty means messages, conversations and turns.
	MessagesTable      string
	ConversationsTable string
	TurnsTable         string

	// Daily budgets (UTC days) of jobs this process may start; 0 means
	// DefaultDailyLoadJobs and DefaultDailyQueryJobs.
	DailyLoadJobs  int
	DailyQueryJobs int
	// SeedBudgetFromJobs makes New count the jobs labelled app=turnstile
	// that the project already started today (INFORMATION_SCHEMA.
	// JOBS_BY_PROJECT of Location; one query job), so that a restart does
	// not reset the budgets.
	SeedBudgetFromJobs bool

	// EmulatorHost (host:port, BIGQUERY_EMULATOR_HOST) points the client at
	// a BigQuery emulator over plain HTTP without authentication.
	EmulatorHost string
	// ClientOptions are added to the clients' options (credentials,
	// endpoint, HTTP client). They apply to the Storage Read API client
	// too, unless DisableStorageRead is set.
	ClientOptions []option.ClientOption
	// DisableStorageRead reads query results over the REST API only. By
	// default large results (the partition read, exports) are read through
	// the BigQuery Storage Read API when the client can be set up; it cannot
	// against an emulator or a test server, so EmulatorHost implies it.
	DisableStorageRead bool

	// UploadChunkSize is the size of the chunks of a load job's upload, and
	// so the memory the upload buffers; 0 means the library default
	// (16 MiB). Data that fits one chunk is sent in one request.
	UploadChunkSize int
	// PageRows is the number of rows per result page read over REST; 0
	// means 10000. Together with the largest conversation it bounds the
	// memory of a partition read.
	PageRows int

	Now    func() time.Time // defaults to time.Now
	Logger *slog.Logger     // defaults to discarding
}

// Warehouse is the BigQuery warehouse. It is safe for concurrent use;
// callers must not process the same partition twice at once.
type Warehouse struct {
	opts   Options
	client *bigquery.Client // REST: jobs, metadata, small results
	reader *bigquery.Client // Storage Read API enabled, or nil
	budget *budget
	logger *slog.Logger
	sql    statements

	mu    sync.Mutex
	snaps map[civil.Date]inputSnapshot // input check results ReadConversations may reuse
}

// New connects to BigQuery. It validates the names in opts, starts no job
// (unless SeedBudgetFromJobs) and does not check that the tables exist: see
// Ping and EnsureSchema. The caller must Close the Warehouse.
func New(ctx context.Context, opts Options) (*Warehouse, error) {
	if opts.Project == "" {
		return nil, errors.New("bigquery: project is empty")
	}
	if err := ValidateDatasetName(opts.Dataset); err != nil {
		return nil, fmt.Errorf("bigquery: %w", err)
	}
	for _, t := range []struct {
		name *string
		def  string
	}{{&opts.MessagesTable, TableMessages}, {&opts.ConversationsTable, TableConversations}, {&opts.TurnsTable, TableTurns}} {
		if *t.name == "" {
			*t.name = t.def
		}
		if err := ValidateTableName(*t.name); err != nil {
			return nil, fmt.Errorf("bigquery: %s table: %w", t.def, err)
		}
	}
	if opts.DailyLoadJobs < 0 || opts.DailyQueryJobs < 0 || opts.UploadChunkSize < 0 || opts.PageRows < 0 {
		return nil, errors.New("bigquery: daily job budgets, upload chunk size and page rows must not be negative")
	}
	if opts.DailyLoadJobs == 0 {
		opts.DailyLoadJobs = DefaultDailyLoadJobs
	}
	if opts.DailyQueryJobs == 0 {
		opts.DailyQueryJobs = DefaultDailyQueryJobs
	}
	if opts.PageRows == 0 {
		opts.PageRows = defaultPageRows
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	var copts []option.ClientOption
	if opts.EmulatorHost != "" {
		copts = append(copts, option.WithEndpoint("http://"+opts.EmulatorHost), option.WithoutAuthentication())
		opts.DisableStorageRead = true
	}
	copts = append(copts, opts.ClientOptions...)
	client, err := bigquery.NewClient(ctx, opts.Project, copts...)
	if err != nil {
		return nil, fmt.Errorf("bigquery: connect to project %s: %w", opts.Project, err)
	}
	client.Location = opts.Location

	w := &Warehouse{
		opts:   opts,
		client: client,
		budget: &budget{now: opts.Now, loadLimit: opts.DailyLoadJobs, queryLimit: opts.DailyQueryJobs},
		logger: logger,
		snaps:  make(map[civil.Date]inputSnapshot),
	}
	w.sql = w.statements()
	if !opts.DisableStorageRead {
		w.reader = w.storageReader(ctx, copts)
	}
	if opts.SeedBudgetFromJobs {
		if err := w.SeedBudget(ctx); err != nil {
			_ = w.Close()
			return nil, err
		}
	}
	return w, nil
}

// storageReader returns a client that reads results through the Storage
// Read API, or nil (and logs why) when one cannot be set up; reads then go
// over REST. The library itself also falls back to REST when a read
// session cannot be created for a result.
func (w *Warehouse) storageReader(ctx context.Context, copts []option.ClientOption) *bigquery.Client {
	rc, err := bigquery.NewClient(ctx, w.opts.Project, copts...)
	if err == nil {
		rc.Location = w.opts.Location
		if err = rc.EnableStorageReadClient(ctx, w.opts.ClientOptions...); err == nil {
			return rc
		}
		_ = rc.Close()
	}
	w.logger.Warn("BigQuery Storage Read API unavailable; reading results over REST", "err", err)
	return nil
}

// Close closes the clients.
func (w *Warehouse) Close() error {
	err := w.client.Close()
	if w.reader != nil {
		err = errors.Join(err, w.reader.Close())
	}
	return err
}

// TurnsTableName is the turns table as project.dataset.table.
func (w *Warehouse) TurnsTableName() string { return w.fqn(w.opts.TurnsTable) }

// Budget reports the jobs started today and the daily limits.
func (w *Warehouse) Budget() BudgetStatus { return w.budget.status() }

// tableName is the BigQuery name of a logical table.
func (w *Warehouse) tableName(logical string) string {
	switch logical {
	case TableMessages:
		return w.opts.MessagesTable
	case TableConversations:
		return w.opts.ConversationsTable
	default:
		return w.opts.TurnsTable
	}
}

// fqn is project.dataset.name.
func (w *Warehouse) fqn(name string) string {
	return w.opts.Project + "." + w.opts.Dataset + "." + name
}

// ref is the quoted SQL reference of a logical table. Names are validated
// in New, so they hold no backtick.
func (w *Warehouse) ref(logical string) string {
	return "`" + w.fqn(w.tableName(logical)) + "`"
}

// labels are the labels of every job: app, the step and the partition.
func labels(day civil.Date, step string) map[string]string {
	l := map[string]string{"app": "turnstile", "step": step}
	if !day.IsZero() {
		l["partition"] = partitionSuffix(day)
	}
	return l
}

// jobPrefix is the readable start of the id of a query job; the library adds
// a random suffix.
func jobPrefix(step string, day civil.Date) string {
	if day.IsZero() {
		return "turnstile_" + step
	}
	return "turnstile_" + step + "_" + partitionSuffix(day)
}

func dayParam(day civil.Date) bigquery.QueryParameter {
	return bigquery.QueryParameter{Name: "day", Value: day}
}

// query takes a query job from the budget, starts the query labelled with
// step and day, and waits for it to finish. The returned error is not yet
// classified; job is set once the job was started.
func (w *Warehouse) query(ctx context.Context, step string, day civil.Date, sql string, params ...bigquery.QueryParameter) (*bigquery.Job, worker.JobStats, error) {
	var stats worker.JobStats
	if err := w.budget.take(QueryJobs); err != nil {
		return nil, stats, err
	}
	q := w.client.Query(sql)
	q.Parameters = params
	q.Labels = labels(day, step)
	q.JobID = jobPrefix(step, day)
	q.AddJobIDSuffix = true
	job, err := q.Run(ctx)
	if err != nil {
		return nil, stats, err
	}
	stats.QueryJobs = 1
	status, err := job.Wait(ctx)
	if err != nil {
		return job, stats, err
	}
	if status.Statistics != nil {
		stats.BytesProcessed = status.Statistics.TotalBytesProcessed
	}
	return job, stats, jobErr(status)
}

// dryRun returns the bytes sql would process. A dry run starts no job and
// is not counted against the budget.
func (w *Warehouse) dryRun(ctx context.Context, step string, day civil.Date, sql string, params ...bigquery.QueryParameter) (int64, error) {
	q := w.client.Query(sql)
	q.Parameters = params
	q.Labels = labels(day, step)
	q.DryRun = true
	job, err := q.Run(ctx)
	if err != nil {
		return 0, err
	}
	status := job.LastStatus()
	if status == nil || status.Statistics == nil {
		return 0, nil
	}
	return status.Statistics.TotalBytesProcessed, jobErr(status)
}

// resultReader returns a handle on a finished query job to read its result
// from: through the Storage Read API client when there is one.
func (w *Warehouse) resultReader(ctx context.Context, job *bigquery.Job) (*bigquery.Job, error) {
	if w.reader == nil {
		return job, nil
	}
	return w.reader.JobFromIDLocation(ctx, job.ID(), job.Location())
}

// queryRow runs a query that yields one row of want columns (step labels the
// job) and returns that row; errors are classified and name op, table and
// the partition.
func (w *Warehouse) queryRow(ctx context.Context, op, step, table string, day civil.Date, want int, sql string, params ...bigquery.QueryParameter) ([]bigquery.Value, worker.JobStats, error) {
	job, stats, err := w.query(ctx, step, day, sql, params...)
	if err != nil {
		return nil, stats, classify(err, op, table, day, jobIDOf(job))
	}
	it, err := job.Read(ctx)
	if err != nil {
		return nil, stats, classify(err, op, table, day, job.ID())
	}
	var row []bigquery.Value
	if err := it.Next(&row); err != nil {
		return nil, stats, classify(err, op, table, day, job.ID())
	}
	if len(row) != want {
		return nil, stats, classify(fmt.Errorf("%s returned %d columns, want %d", op, len(row), want), op, table, day, job.ID())
	}
	return row, stats, nil
}
