package dlq

import (
	"flag"
	"io"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestFlags(t *testing.T) {
	t.Parallel()
	day := civil.Date{Year: 2026, Month: 1, Day: 22}
	defaults := Options{QuietPeriod: DefaultQuietPeriod, Timeout: DefaultTimeout}
	for _, tc := range []struct {
		name      string
		verb      string
		args      []string
		wantParse bool // flag parsing fails
		wantErr   bool // Options fails
		want      Options
		check     func(t *testing.T, f *Flags)
	}{
		{name: "list defaults", verb: VerbList, want: defaults},
		{
			name: "list with every filter", verb: VerbList,
			args: []string{"--partition", "2026-01-22", "--error-class", "retryable", "--older-than", "90m", "--limit", "7",
				"--quiet-period", "500ms", "--scan-timeout", "10s", "--json"},
			want: Options{Filter: Filter{Partition: &day, ErrorClass: "retryable", OlderThan: 90 * time.Minute, Limit: 7},
				QuietPeriod: 500 * time.Millisecond, Timeout: 10 * time.Second},
			check: func(t *testing.T, f *Flags) {
				if !f.json {
					t.Error("--json not set")
				}
			},
		},
		{
			name: "replay flags", verb: VerbReplay, args: []string{"--dry-run", "--rate", "2.5", "--force", "--error-class", "unknown"},
			want: Options{Filter: Filter{ErrorClass: ClassUnknown}, QuietPeriod: DefaultQuietPeriod, Timeout: DefaultTimeout},
			check: func(t *testing.T, f *Flags) {
				if !f.dryRun || !f.force || f.rate != 2.5 {
					t.Errorf("dry run %t, force %t, rate %v; want true, true, 2.5", f.dryRun, f.force, f.rate)
				}
			},
		},
		{
			name: "drop yes", verb: VerbDrop, args: []string{"--yes", "--partition", "2026-01-22"},
			want: Options{Filter: Filter{Partition: &day}, QuietPeriod: DefaultQuietPeriod, Timeout: DefaultTimeout},
			check: func(t *testing.T, f *Flags) {
				if !f.yes {
					t.Error("--yes not set")
				}
			},
		},
		{name: "yes is not a list flag", verb: VerbList, args: []string{"--yes"}, wantParse: true},
		{name: "force is not a drop flag", verb: VerbDrop, args: []string{"--force"}, wantParse: true},
		{name: "dry-run is not a drop flag", verb: VerbDrop, args: []string{"--dry-run"}, wantParse: true},
		{name: "not a date", verb: VerbList, args: []string{"--partition", "2026-02-30"}, wantParse: true},
		{name: "short date", verb: VerbList, args: []string{"--partition", "2026-1-2"}, wantParse: true},
		{name: "unknown class", verb: VerbReplay, args: []string{"--error-class", "fatal"}, wantErr: true},
		{name: "negative limit", verb: VerbList, args: []string{"--limit", "-1"}, wantErr: true},
		{name: "negative age", verb: VerbDrop, args: []string{"--older-than", "-1h"}, wantErr: true},
		{name: "zero quiet period", verb: VerbList, args: []string{"--quiet-period", "0s"}, wantErr: true},
		{name: "negative rate", verb: VerbReplay, args: []string{"--rate", "-1"}, wantErr: true},
		{name: "rate too low", verb: VerbReplay, args: []string{"--rate", "0.0001"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("dlq "+tc.verb, flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			f, err := AddFlags(fs, tc.verb)
			if err != nil {
				t.Fatal(err)
			}
			err = fs.Parse(tc.args)
			if (err != nil) != tc.wantParse {
				t.Fatalf("Parse = %v, want error %t", err, tc.wantParse)
			}
			if err != nil {
				return
			}
			got, err := f.Options()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Options = %v, want error %t", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(Options{}, "Now")); diff != "" {
				t.Errorf("Options (-want +got):\n%s", diff)
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

func TestAddFlagsUnknownVerb(t *testing.T) {
	t.Parallel()
	if _, err := AddFlags(flag.NewFlagSet("dlq", flag.ContinueOnError), "purge"); err == nil {
		t.Error("AddFlags accepted an unknown command")
	}
}
