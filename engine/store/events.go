package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Event is one entry of the app's event log.
type Event struct {
	ID      int64 // assigned by AddEvent; increases, never reused
	Time    time.Time
	Level   string
	Kind    string
	Message string
	// Attrs is a JSON value with details, or nil for none.
	Attrs json.RawMessage
}

// AddEvent appends e (its ID is ignored) and returns the new event's ID.
func (s *Store) AddEvent(ctx context.Context, e Event) (int64, error) {
	if e.Time.IsZero() {
		return 0, fmt.Errorf("add event: %w: Time is not set", ErrInvalid)
	}
	var attrs any
	if len(e.Attrs) > 0 {
		if !json.Valid(e.Attrs) {
			return 0, fmt.Errorf("add event: %w: Attrs is not valid JSON", ErrInvalid)
		}
		attrs = string(e.Attrs)
	}
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO events (t_ms, level, kind, message, attrs) VALUES (?, ?, ?, ?, ?)`,
		toMS(e.Time), e.Level, e.Kind, e.Message, attrs)
	if err != nil {
		return 0, classify(s.path, "add event", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, classify(s.path, "add event", err)
	}
	return id, nil
}

// Events returns up to limit events with ID > afterID in ID order. A limit
// of zero or less means DefaultPageSize; more than MaxPageSize is capped.
func (s *Store) Events(ctx context.Context, afterID int64, limit int) ([]Event, error) {
	const what = "read events"
	rows, err := s.db.QueryContext(ctx,
		`SELECT id, t_ms, level, kind, message, attrs FROM events
		 WHERE id > ? ORDER BY id LIMIT ?`, afterID, pageSize(limit))
	if err != nil {
		return nil, classify(s.path, what, err)
	}
	return s.scanEvents(rows, what)
}

// scanEvents reads rows of (id, t_ms, level, kind, message, attrs).
func (s *Store) scanEvents(rows *sql.Rows, what string) ([]Event, error) {
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var t int64
		var attrs sql.NullString
		if err := rows.Scan(&e.ID, &t, &e.Level, &e.Kind, &e.Message, &attrs); err != nil {
			return nil, classify(s.path, what, err)
		}
		e.Time = fromMS(t)
		if attrs.Valid {
			e.Attrs = json.RawMessage(attrs.String)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(s.path, what, err)
	}
	return out, nil
}
