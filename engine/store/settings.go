package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Setting returns the value stored under key and whether there was one.
func (s *Store) Setting(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := s.db.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, classify(s.path, fmt.Sprintf("read setting %q", key), err)
	}
	return v, true, nil
}

// SetSetting stores value under key, replacing any previous value.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	if key == "" {
		return fmt.Errorf("set setting: %w: empty key", ErrInvalid)
	}
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO settings (key, value) VALUES (?, ?)
		 ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return classify(s.path, fmt.Sprintf("set setting %q", key), err)
	}
	return nil
}

// SetSettings stores several settings at once: all of them or, on an
// error, none.
func (s *Store) SetSettings(ctx context.Context, kv map[string]string) error {
	for k := range kv {
		if k == "" {
			return fmt.Errorf("set settings: %w: empty key", ErrInvalid)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return classify(s.path, "set settings", err)
	}
	defer tx.Rollback()
	for k, v := range kv {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO settings (key, value) VALUES (?, ?)
			 ON CONFLICT (key) DO UPDATE SET value = excluded.value`, k, v); err != nil {
			return classify(s.path, fmt.Sprintf("set setting %q", k), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return classify(s.path, "set settings", err)
	}
	return nil
}
