package bigquery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	bq "google.golang.org/api/bigquery/v2"
	"google.golang.org/api/option"
)

// fakeBQ is an httptest server that answers like the BigQuery REST API for
// the calls turnstile makes (jobs.insert with and without media, the
// multipart and resumable upload protocols, jobs.get, jobs.getQueryResults
// with paging, datasets.get/insert, tables.get/insert/delete) and records
// every request. Query results come from the test's query hook: the fake
// does not run SQL.
type fakeBQ struct {
	tb  testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	reqs     []fakeRequest
	jobs     map[string]*fakeJob
	datasets map[string]*bq.Dataset
	tables   map[string]*bq.Table // "dataset.table"
	sessions map[string]*bq.Job   // resumable upload sessions
	partial  map[string][]byte    // data received per session
	nsession int

	// pageSize caps the rows of a getQueryResults page (default 1000).
	pageSize int
	// query decides the outcome of a query job (dry runs included).
	query func(q *bq.JobConfigurationQuery) queryOutcome
	// load decides the outcome of a load job given its data; nil succeeds.
	load func(job *bq.Job, data []byte) *bq.ErrorProto
	// insertError answers jobs.insert with an error instead of creating the
	// job; nil or a nil result creates it.
	insertError func(job *bq.Job) *apiError
}

// fakeRequest is one request the fake received.
type fakeRequest struct {
	Method string
	Path   string // without a /bigquery/v2 prefix
	Query  url.Values
	Upload string    // "multipart", "resumable" (session start) or "chunk"
	Job    *bq.Job   // the job resource of a jobs.insert
	Table  *bq.Table // the table resource of a tables.insert
	Media  []byte    // the media of a multipart upload or an upload chunk
}

type fakeJob struct {
	job     *bq.Job
	schema  *bq.TableSchema
	rows    []*bq.TableRow
	data    []byte
	failure *apiError // getQueryResults answers this for a failed query
	// pending is how many jobs.get calls still report the job RUNNING.
	pending int
}

// queryOutcome is what a query job produces.
type queryOutcome struct {
	Schema *bq.TableSchema
	Rows   []*bq.TableRow
	Bytes  int64
	// StatementType defaults to SELECT.
	StatementType string
	// Err, when set, makes the job finish with this error; Code is the
	// HTTP status getQueryResults answers (default 400).
	Err  *bq.ErrorProto
	Code int
}

// apiError is an HTTP error answer of the API.
type apiError struct {
	Code    int
	Reason  string
	Message string
}

func newFakeBQ(tb testing.TB) *fakeBQ {
	tb.Helper()
	f := &fakeBQ{
		tb:       tb,
		jobs:     map[string]*fakeJob{},
		datasets: map[string]*bq.Dataset{},
		tables:   map[string]*bq.Table{},
		sessions: map[string]*bq.Job{},
		partial:  map[string][]byte{},
		pageSize: 1000,
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	tb.Cleanup(f.srv.Close)
	return f
}

// options are the client options that point a client at the fake.
func (f *fakeBQ) options() []option.ClientOption {
	return []option.ClientOption{option.WithEndpoint(f.srv.URL), option.WithoutAuthentication()}
}

// testOptions are Options for a Warehouse against the fake.
func (f *fakeBQ) testOptions() Options {
	return Options{
		Project:            "proj",
		Dataset:            "ds",
		Location:           "EU",
		ClientOptions:      f.options(),
		DisableStorageRead: true,
		Now:                func() time.Time { return testNow },
	}
}

var testNow = time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)

// newWarehouse opens a Warehouse on the fake with opts (testOptions when
// nil is passed to modify).
func (f *fakeBQ) newWarehouse(tb testing.TB, modify func(*Options)) *Warehouse {
	tb.Helper()
	opts := f.testOptions()
	if modify != nil {
		modify(&opts)
	}
	w, err := New(context.Background(), opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { _ = w.Close() })
	return w
}

var (
	jobsPath     = regexp.MustCompile(`^/projects/([^/]+)/jobs$`)
	jobPath      = regexp.MustCompile(`^/projects/([^/]+)/jobs/([^/]+)$`)
	queryPath    = regexp.MustCompile(`^/projects/([^/]+)/queries/([^/]+)$`)
	datasetsPath = regexp.MustCompile(`^/projects/([^/]+)/datasets$`)
	datasetPath  = regexp.MustCompile(`^/projects/([^/]+)/datasets/([^/]+)$`)
	tablesPath   = regexp.MustCompile(`^/projects/([^/]+)/datasets/([^/]+)/tables$`)
	tablePath    = regexp.MustCompile(`^/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)$`)
	uploadPath   = regexp.MustCompile(`^/upload/bigquery/v2/projects/([^/]+)/jobs$`)
	sessionPath  = regexp.MustCompile(`^/upload/session/([^/]+)$`)
)

func (f *fakeBQ) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/bigquery/v2")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.tb.Errorf("fake BigQuery: read body: %v", err)
		return
	}
	rec := fakeRequest{Method: r.Method, Path: path, Query: r.URL.Query()}
	f.mu.Lock()
	defer f.mu.Unlock()
	defer func() { f.reqs = append(f.reqs, rec) }()

	var m []string
	switch {
	case r.Method == http.MethodPost && uploadPath.MatchString(r.URL.Path):
		f.serveUpload(w, r, body, &rec)
	case r.Method == http.MethodPost && sessionPath.MatchString(r.URL.Path):
		rec.Upload, rec.Media = "chunk", body
		f.serveChunk(w, r, sessionPath.FindStringSubmatch(r.URL.Path)[1], body)
	case r.Method == http.MethodPost && jobsPath.MatchString(path):
		job := &bq.Job{}
		if !decode(w, body, job) {
			return
		}
		rec.Job = job
		f.answerJob(w, job, nil)
	case r.Method == http.MethodGet && jobPath.MatchString(path):
		f.serveJobGet(w, jobPath.FindStringSubmatch(path)[2])
	case r.Method == http.MethodGet && queryPath.MatchString(path):
		f.serveQueryResults(w, r, queryPath.FindStringSubmatch(path)[2])
	case r.Method == http.MethodGet && datasetPath.MatchString(path):
		m = datasetPath.FindStringSubmatch(path)
		if ds, ok := f.datasets[m[2]]; ok {
			reply(w, ds)
			return
		}
		replyError(w, &apiError{404, "notFound", "Not found: Dataset " + m[1] + ":" + m[2]})
	case r.Method == http.MethodPost && datasetsPath.MatchString(path):
		ds := &bq.Dataset{}
		if !decode(w, body, ds) {
			return
		}
		id := ds.DatasetReference.DatasetId
		if _, ok := f.datasets[id]; ok {
			replyError(w, &apiError{409, "duplicate", "Already Exists: Dataset " + id})
			return
		}
		f.datasets[id] = ds
		reply(w, ds)
	case r.Method == http.MethodGet && tablePath.MatchString(path):
		m = tablePath.FindStringSubmatch(path)
		if t, ok := f.tables[m[2]+"."+m[3]]; ok {
			reply(w, t)
			return
		}
		replyError(w, &apiError{404, "notFound", "Not found: Table " + m[1] + ":" + m[2] + "." + m[3]})
	case r.Method == http.MethodPost && tablesPath.MatchString(path):
		t := &bq.Table{}
		if !decode(w, body, t) {
			return
		}
		rec.Table = t
		key := t.TableReference.DatasetId + "." + t.TableReference.TableId
		if _, ok := f.tables[key]; ok {
			replyError(w, &apiError{409, "duplicate", "Already Exists: Table " + key})
			return
		}
		f.tables[key] = t
		reply(w, t)
	case r.Method == http.MethodDelete && tablePath.MatchString(path):
		m = tablePath.FindStringSubmatch(path)
		key := m[2] + "." + m[3]
		if _, ok := f.tables[key]; !ok {
			replyError(w, &apiError{404, "notFound", "Not found: Table " + key})
			return
		}
		delete(f.tables, key)
		w.WriteHeader(http.StatusNoContent)
	default:
		f.tb.Errorf("fake BigQuery: unexpected request %s %s", r.Method, r.URL)
		replyError(w, &apiError{400, "invalid", "unexpected request " + r.Method + " " + r.URL.Path})
	}
}

// serveUpload starts a multipart upload (job and media in one request) or
// a resumable upload session.
func (f *fakeBQ) serveUpload(w http.ResponseWriter, r *http.Request, body []byte, rec *fakeRequest) {
	rec.Upload = r.URL.Query().Get("uploadType")
	switch rec.Upload {
	case "multipart":
		job, media, err := splitMultipart(r.Header.Get("Content-Type"), body)
		if err != nil {
			f.tb.Errorf("fake BigQuery: multipart upload: %v", err)
			replyError(w, &apiError{400, "invalid", err.Error()})
			return
		}
		rec.Job, rec.Media = job, media
		f.answerJob(w, job, media)
	case "resumable":
		job := &bq.Job{}
		if !decode(w, body, job) {
			return
		}
		rec.Job = job
		if e := f.refuseInsert(job); e != nil {
			replyError(w, e)
			return
		}
		f.nsession++
		id := strconv.Itoa(f.nsession)
		f.sessions[id] = job
		w.Header().Set("Location", f.srv.URL+"/upload/session/"+id)
		w.WriteHeader(http.StatusOK)
	default:
		f.tb.Errorf("fake BigQuery: upload type %q", rec.Upload)
		replyError(w, &apiError{400, "invalid", "upload type"})
	}
}

var contentRange = regexp.MustCompile(`^bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)$`)

// serveChunk takes one chunk of a resumable upload; the final chunk (total
// size known) creates the job.
func (f *fakeBQ) serveChunk(w http.ResponseWriter, r *http.Request, session string, body []byte) {
	job, ok := f.sessions[session]
	if !ok {
		replyError(w, &apiError{404, "notFound", "no upload session " + session})
		return
	}
	m := contentRange.FindStringSubmatch(r.Header.Get("Content-Range"))
	if m == nil {
		f.tb.Errorf("fake BigQuery: bad Content-Range %q", r.Header.Get("Content-Range"))
		replyError(w, &apiError{400, "invalid", "Content-Range"})
		return
	}
	if m[1] != "" {
		if start, _ := strconv.Atoi(m[1]); start != len(f.partial[session]) {
			f.tb.Errorf("fake BigQuery: chunk starts at %d, have %d bytes", start, len(f.partial[session]))
		}
	}
	f.partial[session] = append(f.partial[session], body...)
	if m[3] == "*" {
		w.Header().Set("X-Http-Status-Code-Override", "308")
		w.Header().Set("Range", fmt.Sprintf("bytes=0-%d", len(f.partial[session])-1))
		w.WriteHeader(http.StatusOK)
		return
	}
	data := f.partial[session]
	delete(f.sessions, session)
	delete(f.partial, session)
	f.answerJob(w, job, data)
}

func (f *fakeBQ) refuseInsert(job *bq.Job) *apiError {
	if f.insertError != nil {
		if e := f.insertError(job); e != nil {
			return e
		}
	}
	if job.JobReference != nil {
		if _, ok := f.jobs[job.JobReference.JobId]; ok && !job.Configuration.DryRun {
			return &apiError{409, "duplicate", "Already Exists: Job proj:EU." + job.JobReference.JobId}
		}
	}
	return nil
}

// answerJob creates job (a query, or a load with data) and answers with it.
func (f *fakeBQ) answerJob(w http.ResponseWriter, job *bq.Job, data []byte) {
	if e := f.refuseInsert(job); e != nil {
		replyError(w, e)
		return
	}
	if job.JobReference == nil {
		job.JobReference = &bq.JobReference{ProjectId: "proj", JobId: fmt.Sprintf("server_%d", len(f.jobs))}
	}
	if job.JobReference.Location == "" {
		job.JobReference.Location = "EU"
	}
	now := time.Now().UnixMilli()
	job.Status = &bq.JobStatus{State: "DONE"}
	job.Statistics = &bq.JobStatistics{CreationTime: now, StartTime: now, EndTime: now}
	fj := &fakeJob{job: job, data: data}
	switch {
	case job.Configuration.Query != nil:
		if f.query == nil {
			f.tb.Errorf("fake BigQuery: query job without a query hook: %s", job.Configuration.Query.Query)
			replyError(w, &apiError{400, "invalid", "no query hook"})
			return
		}
		out := f.query(job.Configuration.Query)
		st := out.StatementType
		if st == "" {
			st = "SELECT"
		}
		job.Statistics.TotalBytesProcessed = out.Bytes
		job.Statistics.Query = &bq.JobStatistics2{TotalBytesProcessed: out.Bytes, StatementType: st}
		if out.Err != nil {
			job.Status.ErrorResult, job.Status.Errors = out.Err, []*bq.ErrorProto{out.Err}
			code := out.Code
			if code == 0 {
				code = 400
			}
			fj.failure = &apiError{code, out.Err.Reason, out.Err.Message}
		}
		fj.schema, fj.rows = out.Schema, out.Rows
		if job.Configuration.DryRun {
			reply(w, job)
			return
		}
	case job.Configuration.Load != nil:
		job.Statistics.Load = &bq.JobStatistics3{OutputRows: int64(bytes.Count(data, []byte("\n")))}
		if f.load != nil {
			if e := f.load(job, data); e != nil {
				job.Status.ErrorResult, job.Status.Errors = e, []*bq.ErrorProto{e}
			}
		}
	}
	f.jobs[job.JobReference.JobId] = fj
	reply(w, job)
}

func (f *fakeBQ) serveJobGet(w http.ResponseWriter, id string) {
	fj, ok := f.jobs[id]
	if !ok {
		replyError(w, &apiError{404, "notFound", "Not found: Job proj:EU." + id})
		return
	}
	job := *fj.job
	if fj.pending > 0 {
		fj.pending--
		job.Status = &bq.JobStatus{State: "RUNNING"}
	}
	reply(w, &job)
}

func (f *fakeBQ) serveQueryResults(w http.ResponseWriter, r *http.Request, id string) {
	fj, ok := f.jobs[id]
	if !ok {
		replyError(w, &apiError{404, "notFound", "Not found: Job proj:EU." + id})
		return
	}
	if fj.failure != nil {
		replyError(w, fj.failure)
		return
	}
	q := r.URL.Query()
	off := 0
	if tok := q.Get("pageToken"); tok != "" {
		off, _ = strconv.Atoi(tok)
	} else if s := q.Get("startIndex"); s != "" {
		off, _ = strconv.Atoi(s)
	}
	n := f.pageSize
	if s := q.Get("maxResults"); s != "" {
		if mr, _ := strconv.Atoi(s); mr < n {
			n = mr
		}
	}
	end := min(off+n, len(fj.rows))
	resp := &bq.GetQueryResultsResponse{
		JobReference: fj.job.JobReference,
		JobComplete:  true,
		Schema:       fj.schema,
		TotalRows:    uint64(len(fj.rows)),
		Rows:         fj.rows[off:end],
	}
	if n > 0 && end < len(fj.rows) {
		resp.PageToken = strconv.Itoa(end)
	}
	reply(w, resp)
}

func splitMultipart(contentType string, body []byte) (*bq.Job, []byte, error) {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, nil, err
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var parts [][]byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, nil, err
		}
		parts = append(parts, b)
	}
	if len(parts) != 2 {
		return nil, nil, fmt.Errorf("%d parts, want 2", len(parts))
	}
	job := &bq.Job{}
	if err := json.Unmarshal(parts[0], job); err != nil {
		return nil, nil, err
	}
	return job, parts[1], nil
}

func decode(w http.ResponseWriter, body []byte, v any) bool {
	if err := json.Unmarshal(body, v); err != nil {
		replyError(w, &apiError{400, "invalid", err.Error()})
		return false
	}
	return true
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func replyError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code":    e.Code,
		"message": e.Message,
		"errors":  []map[string]string{{"reason": e.Reason, "message": e.Message, "domain": "global"}},
	}})
}

// requests returns the requests received so far.
func (f *fakeBQ) requests() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.reqs...)
}

// inserts returns the jobs.insert requests (plain, multipart or resumable
// session start) received so far.
func (f *fakeBQ) inserts() []fakeRequest {
	var out []fakeRequest
	for _, r := range f.requests() {
		if r.Job != nil {
			out = append(out, r)
		}
	}
	return out
}

// queryInserts returns the jobs.insert requests of query jobs.
func (f *fakeBQ) queryInserts() []fakeRequest {
	var out []fakeRequest
	for _, r := range f.inserts() {
		if r.Job.Configuration.Query != nil {
			out = append(out, r)
		}
	}
	return out
}

// loadInserts returns the jobs.insert requests of load jobs.
func (f *fakeBQ) loadInserts() []fakeRequest {
	var out []fakeRequest
	for _, r := range f.inserts() {
		if r.Job.Configuration.Load != nil {
			out = append(out, r)
		}
	}
	return out
}

// jobData returns the data of the load job id.
func (f *fakeBQ) jobData(id string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if j, ok := f.jobs[id]; ok {
		return j.data
	}
	return nil
}

// addJob records a job that exists before the test runs, as an earlier
// delivery would have left it; errResult makes it a failed job, pending
// the number of jobs.get answers that report it still running.
func (f *fakeBQ) addJob(id string, load bool, errResult *bq.ErrorProto, pending int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addJobLocked(id, load, errResult, pending)
}

// addJobLocked is addJob for hooks, which run with f.mu held.
func (f *fakeBQ) addJobLocked(id string, load bool, errResult *bq.ErrorProto, pending int) {
	cfg := &bq.JobConfiguration{Query: &bq.JobConfigurationQuery{Query: "SELECT 1"}}
	if load {
		cfg = &bq.JobConfiguration{Load: &bq.JobConfigurationLoad{SourceFormat: "NEWLINE_DELIMITED_JSON"}}
	}
	job := &bq.Job{
		JobReference:  &bq.JobReference{ProjectId: "proj", JobId: id, Location: "EU"},
		Configuration: cfg,
		Status:        &bq.JobStatus{State: "DONE", ErrorResult: errResult},
		Statistics:    &bq.JobStatistics{CreationTime: time.Now().UnixMilli()},
	}
	if errResult != nil {
		job.Status.Errors = []*bq.ErrorProto{errResult}
	}
	f.jobs[id] = &fakeJob{job: job, pending: pending}
}

// addTable records a table with the schema of logical table spec.
func (f *fakeBQ) addTable(dataset, name string, schema *bq.TableSchema, modified time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tables[dataset+"."+name] = &bq.Table{
		TableReference:   &bq.TableReference{ProjectId: "proj", DatasetId: dataset, TableId: name},
		Schema:           schema,
		TimePartitioning: &bq.TimePartitioning{Type: "DAY", Field: "ingestion_date"},
		LastModifiedTime: uint64(modified.UnixMilli()),
	}
}

// fields builds a result schema from "name:TYPE" or "name:TYPE:MODE".
func fields(specs ...string) *bq.TableSchema {
	s := &bq.TableSchema{}
	for _, spec := range specs {
		p := strings.Split(spec, ":")
		f := &bq.TableFieldSchema{Name: p[0], Type: p[1]}
		if len(p) > 2 {
			f.Mode = p[2]
		}
		s.Fields = append(s.Fields, f)
	}
	return s
}

// cells builds a result row in the REST form: every value a string (a
// TIMESTAMP as microseconds, since the client asks for int64 timestamps),
// NULL omitted, arrays as lists of {"v": ...}.
func cells(vals ...any) *bq.TableRow {
	row := &bq.TableRow{}
	for _, v := range vals {
		c := &bq.TableCell{}
		switch v := v.(type) {
		case nil:
		case string:
			c.V = v
		case int:
			c.V = strconv.Itoa(v)
		case int64:
			c.V = strconv.FormatInt(v, 10)
		case bool:
			c.V = strconv.FormatBool(v)
		case time.Time:
			c.V = strconv.FormatInt(v.UnixMicro(), 10)
		case civil.Date:
			c.V = v.String()
		case []string:
			items := make([]any, len(v))
			for i, s := range v {
				items[i] = map[string]any{"v": s}
			}
			c.V = items
		default:
			panic(fmt.Sprintf("cells: unsupported %T", v))
		}
		row.F = append(row.F, c)
	}
	return row
}

// params returns the query parameters of a query job by name, as
// "TYPE=value".
func params(q *bq.JobConfigurationQuery) map[string]string {
	out := map[string]string{}
	for _, p := range q.QueryParameters {
		out[p.Name] = p.ParameterType.Type + "=" + p.ParameterValue.Value
	}
	return out
}
