package ingest_test

import (
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"testing"
	"time"

	"cloud.google.com/go/civil"

	"github.com/turnstile-dev/turnstile/internal/identity"
	"github.com/turnstile-dev/turnstile/internal/ingest"
)

var testDay = civil.Date{Year: 2026, Month: time.January, Day: 22}

// readAll reads r to the end and returns deep copies of its conversations
// (a Reader may reuse them) and the error that stopped it (nil at io.EOF).
func readAll(tb testing.TB, r ingest.Reader) ([]ingest.Conversation, error) {
	tb.Helper()
	var out []ingest.Conversation
	for {
		c, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, clone(*c))
	}
}

func clone(c ingest.Conversation) ingest.Conversation {
	c.Metadata = slices.Clone(c.Metadata)
	c.Messages = slices.Clone(c.Messages)
	for i := range c.Messages {
		c.Messages[i].Metadata = slices.Clone(c.Messages[i].Metadata)
	}
	return c
}

// convID and msgID are the ids the import derives (SPEC §3).
func convID(source, native string) string { return identity.MustID("L8", source, native) }

func msgID(conv string, i int) string { return identity.MustID("L5", conv, strconv.Itoa(i)) }

// msg is a message row as sharegpt and openai produce it: index i of conv.
func msg(conv string, i int, role, content *string, meta string) ingest.MessageRow {
	m := ingest.MessageRow{
		MessageID:      msgID(conv, i),
		ConversationID: conv,
		Seq:            int64(i),
		HasSeq:         true,
	}
	if role != nil {
		m.Role, m.HasRole = *role, true
	}
	if content != nil {
		m.Content, m.HasContent = *content, true
	}
	if meta != "" {
		m.Metadata = json.RawMessage(meta)
	}
	return m
}

func ptr(s string) *string { return &s }

// rawJSON makes metadata comparable as text (the parsers compact it).
func rawJSON(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}
