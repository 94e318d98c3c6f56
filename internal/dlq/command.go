package dlq

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/pubsub/v2"

	tpubsub "github.com/turnstile-dev/turnstile/internal/pubsub"
)

// The dlq subcommands.
const (
	VerbList   = "list"
	VerbReplay = "replay"
	VerbDrop   = "drop"
)

// Flags are the command-line flags of `turnstile dlq list|replay|drop`,
// registered on a flag.FlagSet by AddFlags.
type Flags struct {
	verb string

	partition  dateFlag
	errorClass string
	olderThan  time.Duration
	limit      int
	quiet      time.Duration
	timeout    time.Duration
	json       bool

	dryRun bool    // replay
	rate   float64 // replay
	force  bool    // replay
	yes    bool    // drop
}

// AddFlags registers the flags of verb (VerbList, VerbReplay or VerbDrop)
// on fs:
//
//	all:    --partition YYYY-MM-DD --error-class C --older-than DUR --limit N
//	        --quiet-period DUR --scan-timeout DUR --json
//	replay: --dry-run --rate PER_SECOND --force
//	drop:   --yes
func AddFlags(fs *flag.FlagSet, verb string) (*Flags, error) {
	switch verb {
	case VerbList, VerbReplay, VerbDrop:
	default:
		return nil, fmt.Errorf("unknown dlq command %q: want %s, %s or %s", verb, VerbList, VerbReplay, VerbDrop)
	}
	f := &Flags{verb: verb}
	fs.Var(&f.partition, "partition", "only events for this partition `YYYY-MM-DD`")
	fs.StringVar(&f.errorClass, "error-class", "", "only events of this error `class`: permanent, retryable or unknown")
	fs.DurationVar(&f.olderThan, "older-than", 0, "only events dead-lettered at least this `duration` ago")
	fs.IntVar(&f.limit, "limit", 0, "at most `N` events (0: no limit)")
	fs.DurationVar(&f.quiet, "quiet-period", DefaultQuietPeriod, "stop reading the dead-letter subscription after this `duration` without a new message")
	fs.DurationVar(&f.timeout, "scan-timeout", DefaultTimeout, "stop reading the dead-letter subscription after this `duration` in any case")
	switch verb {
	case VerbList:
		fs.BoolVar(&f.json, "json", false, "write JSON Lines, one event a line, instead of a table")
	case VerbReplay:
		fs.BoolVar(&f.json, "json", false, "write the summary as JSON instead of a table")
		fs.BoolVar(&f.dryRun, "dry-run", false, "report what would be replayed, change nothing")
		fs.Float64Var(&f.rate, "rate", 0, "at most this many republishes `per second` (0: no limit)")
		fs.BoolVar(&f.force, "force", false, "replay events even when they reached the replay limit (TURNSTILE_MAX_REPLAYS)")
	case VerbDrop:
		fs.BoolVar(&f.json, "json", false, "write the summary as JSON instead of a table")
		fs.BoolVar(&f.yes, "yes", false, "really drop the events; without it, only report what would be dropped")
	}
	return f, nil
}

// Options returns the selection and scan options the flags describe, or an
// error naming the flag at fault.
func (f *Flags) Options() (Options, error) {
	o := Options{
		Filter:      Filter{ErrorClass: f.errorClass, OlderThan: f.olderThan, Limit: f.limit},
		QuietPeriod: f.quiet,
		Timeout:     f.timeout,
	}
	if f.partition.set {
		d := f.partition.day
		o.Partition = &d
	}
	if err := (Filter{ErrorClass: f.errorClass}).Validate(); err != nil {
		return o, fmt.Errorf("--error-class: %w", err)
	}
	switch {
	case o.OlderThan < 0:
		return o, fmt.Errorf("--older-than %s: must not be negative", o.OlderThan)
	case o.Limit < 0:
		return o, fmt.Errorf("--limit %d: must not be negative", o.Limit)
	case f.quiet <= 0:
		return o, fmt.Errorf("--quiet-period %s: must be positive", f.quiet)
	case f.timeout <= 0:
		return o, fmt.Errorf("--scan-timeout %s: must be positive", f.timeout)
	case f.rate < 0 || (f.rate > 0 && f.rate < minRate):
		return o, fmt.Errorf("--rate %v: must be 0 (no limit) or at least %v", f.rate, minRate)
	}
	return o, nil
}

// Run carries out the command on n's dead-letter subscription and writes
// its report to stdout: for list, a table or JSON Lines; for replay and
// drop, a table of results and a summary line, or the summary as one JSON
// object. maxReplays is ReplayOptions.MaxReplays (TURNSTILE_MAX_REPLAYS).
// The report is written even when the command fails part way; the error
// is returned after it.
func (f *Flags) Run(ctx context.Context, client *pubsub.Client, n tpubsub.Names, maxReplays int, stdout io.Writer) error {
	o, err := f.Options()
	if err != nil {
		return err
	}
	switch f.verb {
	case VerbList:
		l, err := List(ctx, client, n, o)
		if err != nil && l.Entries == nil {
			return err
		}
		if f.json {
			return firstErr(WriteJSONLines(stdout, l.Entries), err)
		}
		werr := WriteTable(stdout, l.Entries)
		if werr == nil {
			_, werr = fmt.Fprintf(stdout, "%d of %d dead letters listed%s\n", len(l.Entries), l.Scanned, stopNote(l.Stop))
		}
		return firstErr(werr, err)
	case VerbReplay:
		sum, err := Replay(ctx, client, n, ReplayOptions{Options: o, DryRun: f.dryRun, Rate: f.rate, MaxReplays: maxReplays, Force: f.force})
		return firstErr(f.report(stdout, sum, sum.Results, sum.String()), err)
	default:
		sum, err := Drop(ctx, client, n, o, f.yes)
		return firstErr(f.report(stdout, sum, sum.Results, sum.String()), err)
	}
}

// report writes a summary as JSON, or its results as a table and line.
func (f *Flags) report(w io.Writer, summary any, results []Result, line string) error {
	if f.json {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(summary); err != nil {
			return fmt.Errorf("write %s summary as JSON: %w", f.verb, err)
		}
		return nil
	}
	if len(results) > 0 {
		if err := WriteResults(w, results); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintln(w, line); err != nil {
		return fmt.Errorf("write %s summary: %w", f.verb, err)
	}
	return nil
}

// firstErr returns the command's error if any, else the output error.
func firstErr(outErr, cmdErr error) error {
	if cmdErr != nil {
		return cmdErr
	}
	return outErr
}

// dateFlag is a flag.Value for a YYYY-MM-DD date.
type dateFlag struct {
	day civil.Date
	set bool
}

func (d *dateFlag) String() string {
	if d == nil || !d.set {
		return ""
	}
	return d.day.String()
}

func (d *dateFlag) Set(s string) error {
	day, err := civil.ParseDate(s)
	if err != nil || !day.IsValid() || day.String() != s {
		return fmt.Errorf("%q is not a date in YYYY-MM-DD form", s)
	}
	d.day, d.set = day, true
	return nil
}
