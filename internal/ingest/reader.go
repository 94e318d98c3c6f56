package ingest

import (
	"fmt"
	"io"
	"strings"

	"cloud.google.com/go/civil"
)

// Formats lists the input formats NewReader accepts.
var Formats = []string{"sharegpt", "openai", "ndjson"}

// NewReader returns the Reader for format (one of Formats) over r. source is
// the conversations' source; day, the import's partition, is only used by
// ndjson, whose rows may name their ingestion_date.
func NewReader(format string, r io.Reader, source string, day civil.Date) (Reader, error) {
	switch format {
	case "sharegpt":
		return NewShareGPT(r, source), nil
	case "openai":
		return NewOpenAI(r, source), nil
	case "ndjson":
		return NewNDJSON(r, source, day), nil
	default:
		return nil, fmt.Errorf("unknown input format %q (want one of %s)", format, strings.Join(Formats, ", "))
	}
}

// Progress is what a CountingReader has passed on so far.
type Progress struct {
	Conversations int64
	Messages      int64
	Done          bool // the input ended (io.EOF)
}

// CountingReader passes on the conversations of another Reader, counting
// them and their messages, and reports progress to a callback. It is not
// safe for concurrent use, like any Reader.
type CountingReader struct {
	r     Reader
	every int64
	fn    func(Progress)
	p     Progress
}

// NewCountingReader wraps r. When fn is not nil it is called, from Next,
// after every every-th conversation (never when every <= 0) and once more
// when r reports io.EOF, with Done set.
func NewCountingReader(r Reader, every int64, fn func(Progress)) *CountingReader {
	return &CountingReader{r: r, every: every, fn: fn}
}

// Next returns r's next conversation.
func (c *CountingReader) Next() (*Conversation, error) {
	conv, err := c.r.Next()
	if err == io.EOF && !c.p.Done {
		c.p.Done = true
		if c.fn != nil {
			c.fn(c.p)
		}
	}
	if err != nil {
		return nil, err
	}
	c.p.Conversations++
	c.p.Messages += int64(len(conv.Messages))
	if c.fn != nil && c.every > 0 && c.p.Conversations%c.every == 0 {
		c.fn(c.p)
	}
	return conv, nil
}

// Progress returns the counts so far.
func (c *CountingReader) Progress() Progress { return c.p }
