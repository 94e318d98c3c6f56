// Command sqlbaseline times DuckDB alone pairing a partition into turns in
// one SQL pass with window functions: the yardstick for `turnstile process`
// in bench/process.sh. It writes the turns into a temporary table (so the
// work includes materialising them) and prints the elapsed time and count.
//
//	go run ./bench/sqlbaseline --db turnstile.duckdb --partition 2026-01-23
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

// pairSQL follows SPEC §4: order, role table, duplicates dropped, a user
// message opens a turn when the previous kept message was a response (or
// there was none), an assistant or tool message with no turn yet opens one.
const pairSQL = `
CREATE OR REPLACE TEMP TABLE baseline_turns AS
WITH m AS (
  SELECT m.conversation_id, m.message_id, m.seq, m.created_at, m.content,
    CASE
      WHEN lower(trim(m.role)) IN ('user','human','customer','prompter') THEN 'u'
      WHEN lower(trim(m.role)) IN ('assistant','gpt','bot','model','ai','chatgpt','bing') THEN 'a'
      WHEN lower(trim(m.role)) IN ('system','developer') THEN 's'
      WHEN lower(trim(m.role)) IN ('tool','function','ipython','observation','function_call') THEN 't'
    END AS r
  FROM messages m
  JOIN conversations c ON c.conversation_id = m.conversation_id AND c.ingestion_date = m.ingestion_date
  WHERE m.ingestion_date = $1
), d AS (
  SELECT *, row_number() OVER (PARTITION BY conversation_id, message_id
                               ORDER BY seq NULLS LAST, created_at NULLS LAST) AS dup
  FROM m
), k AS (
  SELECT *, lag(r) OVER w AS prev_r
  FROM d WHERE dup = 1 AND r IN ('u','a','t')
  WINDOW w AS (PARTITION BY conversation_id ORDER BY seq NULLS LAST, created_at NULLS LAST, message_id)
), t AS (
  SELECT *, sum(CASE WHEN prev_r IS NULL OR (r = 'u' AND prev_r <> 'u') THEN 1 ELSE 0 END)
              OVER (PARTITION BY conversation_id ORDER BY seq NULLS LAST, created_at NULLS LAST, message_id
                    ROWS UNBOUNDED PRECEDING) - 1 AS turn_index
  FROM k
)
SELECT conversation_id AS parent_id, turn_index,
  list(message_id ORDER BY seq NULLS LAST, created_at NULLS LAST, message_id) FILTER (WHERE r = 'u') AS user_message_ids,
  list(message_id ORDER BY seq NULLS LAST, created_at NULLS LAST, message_id) FILTER (WHERE r <> 'u') AS response_message_ids,
  string_agg(content, chr(10) || chr(10) ORDER BY seq NULLS LAST, created_at NULLS LAST, message_id) FILTER (WHERE r = 'u' AND content <> '') AS user_text,
  string_agg(content, chr(10) || chr(10) ORDER BY seq NULLS LAST, created_at NULLS LAST, message_id) FILTER (WHERE r = 'a' AND content <> '') AS response_text,
  min(created_at) AS started_at, max(created_at) AS ended_at,
  count(*) FILTER (WHERE r = 'u') AS user_messages,
  count(*) FILTER (WHERE r = 'a') AS assistant_messages,
  count(*) FILTER (WHERE r = 't') AS tool_messages
FROM t
GROUP BY conversation_id, turn_index`

func main() {
	db := flag.String("db", "turnstile.duckdb", "DuckDB database file")
	part := flag.String("partition", "", "partition (YYYY-MM-DD)")
	memory := flag.String("memory-limit", "", "DuckDB memory_limit (default: DuckDB's own, 80% of RAM)")
	flag.Parse()
	if err := run(*db, *part, *memory); err != nil {
		fmt.Fprintln(os.Stderr, "sqlbaseline:", err)
		os.Exit(1)
	}
}

func run(path, part, memory string) error {
	if part == "" {
		return fmt.Errorf("--partition is required")
	}
	ctx := context.Background()
	db, err := sql.Open("duckdb", path+"?access_mode=READ_ONLY")
	if err != nil {
		return err
	}
	defer db.Close()
	if memory != "" {
		if _, err := db.ExecContext(ctx, "SET memory_limit = '"+memory+"'"); err != nil {
			return err
		}
	}
	start := time.Now()
	if _, err := db.ExecContext(ctx, pairSQL, part); err != nil {
		return fmt.Errorf("pairing query: %w", err)
	}
	elapsed := time.Since(start)
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM baseline_turns").Scan(&n); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"partition": part, "turns": n, "duration_ms": elapsed.Milliseconds(),
	})
}
