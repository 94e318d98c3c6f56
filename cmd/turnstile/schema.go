package main

import (
	"context"
	"fmt"

	"github.com/turnstile-dev/turnstile/internal/warehouse/bigquery"
)

func runSchema(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "schema", "--table messages|conversations|turns")
	table := fs.String("table", "", "table whose BigQuery schema to print: messages, conversations or turns")
	if err := parseArgs(e, fs, args, nil, false); err != nil {
		return err
	}
	if *table == "" {
		fmt.Fprintln(e.stderr, "turnstile: --table is required (messages, conversations or turns)")
		return errUsage
	}
	b, err := bigquery.SchemaJSON(*table)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}
