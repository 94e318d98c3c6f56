package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"cloud.google.com/go/civil"
)

// NewNDJSON reads JSON Lines of messages-table rows (SPEC §2, §8), the
// native form:
//
//	{"message_id": "m1", "conversation_id": "c1", "seq": 0, "role": "user",
//	 "content": "hi", "created_at": "2026-01-22T10:00:00Z",
//	 "metadata": {...}, "ingestion_date": "2026-01-22"}
//
// message_id and conversation_id are required, non-empty strings, stored as
// given (no hashing). seq (an integer), role, content, created_at (RFC 3339)
// and metadata (any JSON value) may be absent or null, which is NULL.
// ingestion_date may be absent or null; when present it must be day, the
// import's partition. Any other field is an error, so that a misspelt column
// is not silently dropped. Blank lines are skipped.
//
// Consecutive rows with the same conversation_id form one Conversation with
// Source source, no title and no metadata. Rows are stored as given:
// repeated message ids and unknown roles included. A conversation_id that
// comes back after other conversations makes a second Conversation with the
// same id (Store merges them).
//
// Errors name the 1-based line number (blank lines included) and what was
// wrong. Once Next has returned an error it returns the same error.
func NewNDJSON(r io.Reader, source string, day civil.Date) Reader {
	return &ndjsonReader{lines: newLineReader(r), source: source, day: day}
}

type ndjsonReader struct {
	lines  *lineReader
	source string
	day    civil.Date

	conv       Conversation
	pending    MessageRow // first row of the next conversation
	hasPending bool
	err        error
}

func (r *ndjsonReader) Next() (*Conversation, error) {
	if r.err != nil {
		return nil, r.err
	}
	r.conv = Conversation{Source: r.source, Messages: r.conv.Messages[:0]}
	if r.hasPending {
		r.hasPending = false
		r.conv.ConversationID = r.pending.ConversationID
		r.conv.Messages = append(r.conv.Messages, r.pending)
	}
	for {
		row, err := r.row()
		if err == io.EOF {
			r.err = io.EOF
			if len(r.conv.Messages) > 0 {
				return &r.conv, nil
			}
			return nil, io.EOF
		}
		if err != nil {
			r.err = err
			return nil, err
		}
		if len(r.conv.Messages) > 0 && row.ConversationID != r.conv.ConversationID {
			r.pending, r.hasPending = row, true
			return &r.conv, nil
		}
		r.conv.ConversationID = row.ConversationID
		r.conv.Messages = append(r.conv.Messages, row)
	}
}

// row reads the next non-blank line as a row.
func (r *ndjsonReader) row() (MessageRow, error) {
	for {
		line, err := r.lines.next()
		if err == io.EOF {
			return MessageRow{}, io.EOF
		}
		if err != nil {
			return MessageRow{}, fmt.Errorf("ndjson: %w", err)
		}
		if isBlank(line) {
			continue
		}
		row, err := r.parse(line)
		if err != nil {
			return MessageRow{}, fmt.Errorf("ndjson: line %d: %w", r.lines.line, err)
		}
		return row, nil
	}
}

func (r *ndjsonReader) parse(line []byte) (MessageRow, error) {
	fields, err := decodeLine(line)
	if err != nil {
		return MessageRow{}, err
	}
	var row MessageRow
	for _, k := range sortedKeys(fields) {
		v := fields[k]
		switch k {
		case "message_id":
			row.MessageID, err = requiredString(v)
		case "conversation_id":
			row.ConversationID, err = requiredString(v)
		case "seq":
			row.Seq, row.HasSeq, err = intValue(v)
		case "role":
			row.Role, row.HasRole, err = stringValue(v)
		case "content":
			row.Content, row.HasContent, err = stringValue(v)
		case "created_at":
			row.CreatedAt, err = timeValue(v)
		case "metadata":
			if !isNull(v) {
				var buf bytes.Buffer
				if err = json.Compact(&buf, v); err == nil {
					row.Metadata = buf.Bytes()
				}
			}
		case "ingestion_date":
			err = r.checkDay(v)
		default:
			err = errors.New("unknown field (want message_id, conversation_id, seq, role, content, created_at, metadata, ingestion_date)")
		}
		if err != nil {
			return MessageRow{}, fmt.Errorf("%s: %w", k, err)
		}
	}
	if _, ok := fields["message_id"]; !ok {
		return MessageRow{}, errors.New("message_id: missing")
	}
	if _, ok := fields["conversation_id"]; !ok {
		return MessageRow{}, errors.New("conversation_id: missing")
	}
	return row, nil
}

func (r *ndjsonReader) checkDay(raw []byte) error {
	s, ok, err := stringValue(raw)
	if err != nil || !ok {
		return err
	}
	d, err := civil.ParseDate(s)
	if err != nil {
		return fmt.Errorf("want a date YYYY-MM-DD, got %q", s)
	}
	if d != r.day {
		return fmt.Errorf("%s is not the import's partition %s", d, r.day)
	}
	return nil
}

func requiredString(raw []byte) (string, error) {
	s, ok, err := stringValue(raw)
	switch {
	case err != nil:
		return "", fmt.Errorf("want a non-empty string, got %s", jsonKind(raw))
	case !ok:
		return "", errors.New("want a non-empty string, got null")
	case s == "":
		return "", errors.New("want a non-empty string, got \"\"")
	}
	return s, nil
}

func intValue(raw []byte) (int64, bool, error) {
	if isNull(raw) {
		return 0, false, nil
	}
	if jsonKind(raw) != "number" {
		return 0, false, fmt.Errorf("want an integer or null, got %s", jsonKind(raw))
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("want an integer or null, got %s", raw)
	}
	return n, true, nil
}

func timeValue(raw []byte) (time.Time, error) {
	s, ok, err := stringValue(raw)
	if err != nil {
		return time.Time{}, fmt.Errorf("want an RFC 3339 timestamp or null, got %s", jsonKind(raw))
	}
	if !ok {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want an RFC 3339 timestamp, got %q", s)
	}
	return t.UTC(), nil
}
