// Package bigquery is the production warehouse: stage 6's partition read,
// turns replacement, import and export against BigQuery (SPEC §2, §6, §8),
// with the same contract as the DuckDB warehouse.
//
// # Jobs per partition
//
// Stage 6 costs two query jobs and one load job per partition:
//
//   - CheckInput runs the input query: one query that yields a header row
//     (the partition's conversation rows and orphan messages, i.e. messages
//     whose conversation_id is not a conversation of the partition) followed
//     by every conversation with its messages in SPEC §4.1 order. It reads
//     only the header. ReadConversations then pages through the rest of that
//     same job's result instead of querying again, unless it is over an hour
//     old or the messages or conversations table changed after the job was
//     created (table metadata, no job); then it runs the query once more.
//     Both tables are filtered on ingestion_date = @day (a DATE parameter),
//     so only the partition is scanned.
//   - ReplaceTurns streams the turns as newline-delimited JSON into one load
//     job, WRITE_TRUNCATE into the partition decorator turns$YYYYMMDD, with a
//     job id derived from the run id and the partition, so that a
//     redelivered event finds its finished job instead of loading twice.
//   - One query then checks what the partition holds. BigQuery cannot roll
//     a finished load back; when the caller's check fails, one more query
//     restores the partition from time travel (see ReplaceTurns).
//
// Results are read page by page (Options.PageRows over REST), or through
// the BigQuery Storage Read API when the client can set it up; an ordered
// query result is then read from a single stream. Without it (an emulator,
// a test server, Options.DisableStorageRead, or a failed read session)
// results come over REST.
//
// # Budgets
//
// Every job is labelled app=turnstile, partition=YYYYMMDD and step=STEP and
// is counted, when it is started (failed jobs included), against daily
// budgets (UTC days) of load jobs and query jobs kept in this process. When
// a budget is spent the call fails with a retryable *BudgetError that names
// the budget, its limit and its reset, and starts no job. Dry runs start no
// job and are not counted. Options.SeedBudgetFromJobs counts the jobs the
// project already started today at start-up.
//
// # Import
//
// Import streams the input into one load job into a staging table, then one
// multi-statement transaction replaces the imported conversations of the
// partition (one load job and one query job per import; see Import).
//
// # Errors
//
// Every error names the operation, the table and the partition (*Error).
// Quotas and rate limits (403 quotaExceeded, rateLimitExceeded, 429),
// backend errors (5xx, backendError), timeouts and lost races are
// retryable; a missing dataset or table (404, "run turnstile setup"),
// denied access and invalid requests or schemas (400, naming the column
// when BigQuery's message does) are marked permanent with
// worker.MarkPermanent.
package bigquery
