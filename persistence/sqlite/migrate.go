package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/pressly/goose/v3"

	"github.com/outrider/outrider/persistence/migrations"
)

// Migrate applies the embedded migrations (persistence/migrations/sqlite)
// that have not run yet, on the write connection, after converting the
// version numbers recorded in a file made before the numbering was aligned
// with Postgres's (alignNumbering). Calls in one process are serialised.
// Two processes migrating one file at once are not (the file belongs to one
// node): the loser's Migrate fails and changes nothing.
func (s *Store) Migrate(ctx context.Context) error {
	s.migrate.Lock()
	defer s.migrate.Unlock()
	if err := s.write(ctx, func(tx *sql.Tx) error { return s.alignNumbering(ctx, tx) }); err != nil {
		return fmt.Errorf("migrate: align version numbers: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, s.w, migrations.SQLite, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		s.log.Info("applied migration", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// Migration numbering. SQLite's migrations used to be numbered on their
// own, 1 to 6, while Postgres numbered the same changes 1 to 8. Now a change
// has one number in both dialects (persistence/migrations), and SQLite has
// an empty migration where Postgres changed something SQLite already had.
// A file says which numbering its goose version table uses in PRAGMA
// user_version, the header field SQLite leaves to the application: 0, the
// value of every file made before the alignment, or numberingAligned.
const (
	numberingAligned = 1
	gooseTable       = "goose_db_version" // goose's default, which Migrate keeps
)

// unalignedVersions maps each version of the old SQLite numbering to the
// versions that record the same schema in the aligned one: the migration's
// new number and, after it, any empty migration (00002_outbox_position,
// 00004_outbox_trim) whose Postgres change that migration already holds or
// that sits between it and the next one. Recording the empty migrations as
// applied is what running them would do, and spares goose a "missing
// migration" refusal when a later version is already recorded.
//
// These are the numbers of shipped files: never change them.
var unalignedVersions = map[int64][]int64{
	0: {0}, // goose's own row, written when it creates the table
	1: {1, 2},
	2: {3, 4},
	3: {5},
	4: {6},
	5: {7},
	6: {8},
}

// alignNumbering converts, inside tx, the goose version table of a file in
// the old numbering to the aligned one and marks the file aligned. A new
// file is only marked; an aligned one is left alone. Since it runs in one
// transaction, a crash or an unknown version leaves the file as it was.
func (s *Store) alignNumbering(ctx context.Context, tx *sql.Tx) error {
	var numbering int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&numbering); err != nil {
		return err
	}
	switch {
	case numbering == numberingAligned:
		return nil
	case numbering != 0:
		return fmt.Errorf("user_version %d: the file was migrated by a newer Outrider", numbering)
	}
	var tables int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?", gooseTable).Scan(&tables); err != nil {
		return err
	}
	if tables == 1 {
		if err := convertVersions(ctx, tx); err != nil {
			return err
		}
		s.log.Info("converted the migration versions of a database file made before SQLite and Postgres shared them")
	}
	_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", numberingAligned))
	return err
}

// convertVersions rewrites every row of the goose version table from the
// old numbering to the aligned one (see unalignedVersions).
func convertVersions(ctx context.Context, tx *sql.Tx) error {
	type row struct {
		id, version int64
		applied     bool
	}
	rs, err := tx.QueryContext(ctx, "SELECT id, version_id, is_applied FROM "+gooseTable+" ORDER BY id")
	if err != nil {
		return err
	}
	var rows []row
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.id, &r.version, &r.applied); err != nil {
			rs.Close()
			return err
		}
		rows = append(rows, r)
	}
	if err := rs.Close(); err != nil {
		return err
	}
	if err := rs.Err(); err != nil {
		return err
	}
	for _, r := range rows {
		to, ok := unalignedVersions[r.version]
		if !ok {
			known := make([]int64, 0, len(unalignedVersions))
			for v := range unalignedVersions {
				known = append(known, v)
			}
			slices.Sort(known)
			return fmt.Errorf("%s records version %d, which the unaligned numbering (%v) never had", gooseTable, r.version, known)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE "+gooseTable+" SET version_id = ? WHERE id = ?", to[0], r.id); err != nil {
			return err
		}
		for _, v := range to[1:] {
			if _, err := tx.ExecContext(ctx, "INSERT INTO "+gooseTable+" (version_id, is_applied) VALUES (?, ?)", v, r.applied); err != nil {
				return err
			}
		}
	}
	return nil
}
