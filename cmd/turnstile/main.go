// Command turnstile is stage 6 of the conversation pipeline: it pairs a date
// partition's messages into turns, replaces that partition of the turns
// table atomically, and (in serve mode) does so for every stage5.complete
// event it receives. Run `turnstile help` for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "turnstile:", err)
		}
		os.Exit(exitCode(err))
	}
}

// errUsage is returned after a usage message was printed; errHelp after
// -h printed a command's help.
var (
	errUsage = errors.New("usage")
	errHelp  = errors.New("help shown")
)

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// env is what every subcommand gets: its standard streams.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func commands() []command {
	return []command{
		{"demo", "run the whole pipeline in one process on embedded defaults", runDemo},
		{"import", "load chat files (sharegpt, openai, ndjson) into a partition", runImport},
		{"generate", "write synthetic conversations into a partition", runGenerate},
		{"process", "run stage 6 for one partition and print a JSON summary", runProcess},
		{"export", "write a partition's turns as JSON Lines", runExport},
		{"setup", "create the topics, subscriptions and tables (idempotent)", runSetup},
		{"serve", "run the worker: process stage5.complete events from Pub/Sub", runServe},
		{"publish", "publish a stage5.complete event (backfills, tests)", runPublish},
		{"dlq", "list, replay or drop dead-lettered events", runDLQ},
		{"schema", "print a table's BigQuery schema as JSON (for bq and Terraform)", runSchema},
	}
}

// run is the whole program; tests call it in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, e, args[1:])
			if errors.Is(err, errHelp) {
				return nil
			}
			return err
		}
	}
	fmt.Fprintf(stderr, "turnstile: unknown command %q\n\n", args[0])
	usage(stderr)
	return errUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: turnstile <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run `turnstile <command> -h` for a command's flags. Configuration comes from")
	fmt.Fprintln(w, "TURNSTILE_* environment variables (see README.md).")
}
