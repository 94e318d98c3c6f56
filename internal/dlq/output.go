package dlq

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// WriteTable writes entries as an aligned table for people, one row each.
func WriteTable(w io.Writer, entries []Entry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MESSAGE ID\tPARTITION\tRUN ID\tCLASS\tSTEP\tDELIVERIES\tDEAD-LETTERED\tREPLAYS\tERROR")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n",
			cell(e.MessageID), cell(e.Partition), cell(e.RunID), cell(e.ErrorClass), cell(e.Step),
			count(e.DeliveryCount), e.PublishTime.UTC().Format(time.RFC3339), e.ReplayCount, cell(oneLine(e.Error, maxErrorCell)))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write dead-letter table: %w", err)
	}
	return nil
}

// WriteJSONLines writes entries as JSON Lines, one object each.
func WriteJSONLines(w io.Writer, entries []Entry) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, e := range entries {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("write dead letter %s as JSON: %w", e.MessageID, err)
		}
	}
	return nil
}

// WriteResults writes the results of a Replay or Drop as an aligned table.
func WriteResults(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MESSAGE ID\tPARTITION\tRUN ID\tCLASS\tREPLAYS\tOUTCOME\tDETAIL")
	for _, r := range results {
		detail := r.Reason
		if r.ReplayMessageID != "" {
			detail = "republished as " + r.ReplayMessageID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n",
			cell(r.MessageID), cell(r.Partition), cell(r.RunID), cell(r.ErrorClass), r.ReplayCount, r.Outcome, cell(oneLine(detail, maxErrorCell)))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write results table: %w", err)
	}
	return nil
}

// maxErrorCell is how many characters of an error a table shows.
const maxErrorCell = 160

func cell(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func count(n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

// oneLine collapses whitespace (tabs would break the table) and cuts s to
// max characters.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}
