package sqlite_test

import (
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence/sqlite"
)

// unalignedFiles are the SQLite migrations as they shipped before their
// numbers were aligned with Postgres's (commit bb492bb,
// persistence/sqlite/migrations), byte for byte: what the dev databases
// already on users' disks were migrated with.
//
//go:embed testdata/unaligned/*.sql
var unalignedFiles embed.FS

// alignedVersions is what goose must have recorded once a file of any
// age is migrated: every migration of persistence/migrations/sqlite.
var alignedVersions = []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}

// seed fills the tables of a file of the old numbering, each statement
// once the file has reached its version, the one that created the table
// (or column).
var seed = []struct {
	version int64
	sql     string
}{
	{1, `INSERT INTO users VALUES ('u1', 'Ann@example.com', 'ann@example.com', 'Ann', '+1', 'driver', 'hash', 1700000000000001)`},
	{1, `INSERT INTO drivers VALUES ('u1', 1, 2, 1, 3, 51.5, -0.1, 1700000000000002, 1700000000000003)`},
	{1, `INSERT INTO orders VALUES ('o1', 'c1', 'u1', '{"address":"1 Depot Rd"}', '{"address":"9 Home St"}', 'standard', NULL, 'paid', 'assigned', 'ring twice', 2, 1700000000000004, 1700000000000005)`},
	{1, `INSERT INTO journal VALUES ('order', 'o1', 1, 'OrderPlaced', x'0a0b', 'cmd-1', 1700000000000006)`},
	{1, `INSERT INTO snapshots VALUES ('order', 'o1', 1, x'0c0d')`},
	{1, `INSERT INTO order_timeline VALUES ('o1', 1, 'pending', 'c1', 'customer', '{"k":"v"}', 1700000000000007)`},
	{1, `INSERT INTO outbox (id, subject, payload, created_at) VALUES ('m1', 'outrider.order.o1', x'7b7d', 1700000000000008)`},
	{1, `INSERT INTO refresh_tokens VALUES ('h1', 'u1', 'f1', 1700000000000009, 1700000000000010, NULL, NULL)`},
	{1, `INSERT INTO idempotency_keys VALUES ('s1', 'k1', 'rh', NULL, NULL, NULL, 1700000000000011)`},
	{2, `INSERT INTO location_history VALUES ('u1', 1700000000000012, 51.5, -0.1, 90, 3.5, NULL)`},
	{3, `INSERT INTO proofs VALUES ('o1', 'proofs/o1/a.jpg', 2, 'image/jpeg', 1234, 'u1', NULL, 1700000000000013)`},
	{4, `INSERT INTO notifications VALUES ('n1', 'c1', 'order_status', 'e1', '{"message":"hi"}', NULL, 1700000000000014)`},
	{4, `INSERT INTO processed_messages VALUES ('email', 'e1', 1700000000000015)`},
	{4, `INSERT INTO webhooks VALUES ('w1', 'https://example.com/hook', '', 'secret', '["*"]', 1, 0, '', 1700000000000016, 1700000000000017)`},
	{4, `INSERT INTO webhook_attempts VALUES ('a1', 'w1', 'd1', 'e1', 'order.placed', 1, 0, 500, 'boom', 'oops', 12, 1700000000000018)`},
	{6, `UPDATE idempotency_keys SET owner = 'member-1'`},
}

// TestMigrateUpgradesUnalignedNumbering: a file migrated to any version
// of the old numbering by the old migration files, rows in every table,
// is upgraded by Migrate to the aligned numbering with exactly the schema
// of a file made new, and every row kept.
func TestMigrateUpgradesUnalignedNumbering(t *testing.T) {
	t.Parallel()
	want := schemaOf(t, freshFile(t))

	for old := int64(1); old <= 6; old++ {
		t.Run(fmt.Sprintf("from_version_%d", old), func(t *testing.T) {
			t.Parallel()
			path := unalignedFile(t, old)
			db := openRaw(t, path)
			cols := columns(t, db)
			before := rows(t, db, cols)
			for table, r := range before {
				require.NotEmpty(t, r, "seed rows in %s", table)
			}
			require.NoError(t, db.Close())

			migrate(t, path)
			db = openRaw(t, path)
			require.Equal(t, alignedVersions, versions(t, db))
			require.Equal(t, 1, userVersion(t, db))
			require.Equal(t, want, schemaOf(t, path))
			require.Equal(t, before, rows(t, db, cols), "the rows, in the columns they had")
			require.NoError(t, db.Close())

			migrate(t, path) // a second start converts and applies nothing
			require.Equal(t, alignedVersions, versions(t, openRaw(t, path)))
		})
	}
}

// TestMigrateRefusesUnknownNumbering: a file Migrate cannot place in
// either numbering makes it fail and is left exactly as it was.
func TestMigrateRefusesUnknownNumbering(t *testing.T) {
	t.Parallel()
	for name, spoil := range map[string]string{
		"a version the old numbering never had": `INSERT INTO goose_db_version (version_id, is_applied) VALUES (7, 1)`,
		"a numbering newer than this binary's":  `PRAGMA user_version = 2`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := unalignedFile(t, 6)
			db := openRaw(t, path)
			_, err := db.Exec(spoil)
			require.NoError(t, err)
			wantVersions, wantNumbering := versions(t, db), userVersion(t, db)
			require.NoError(t, db.Close())

			s, err := sqlite.Open(t.Context(), path, quiet)
			require.NoError(t, err)
			err = s.Migrate(t.Context())
			s.Close()
			require.ErrorContains(t, err, "align version numbers")

			db = openRaw(t, path)
			require.Equal(t, wantVersions, versions(t, db))
			require.Equal(t, wantNumbering, userVersion(t, db))
		})
	}
}

// freshFile is a file migrated by Migrate from nothing.
func freshFile(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "fresh.db")
	migrate(t, path)
	db := openRaw(t, path)
	require.Equal(t, alignedVersions, versions(t, db))
	require.Equal(t, 1, userVersion(t, db))
	return path
}

// unalignedFile is a file migrated to version old by the old migration
// files, as a dev database of before the alignment is, with the seed rows
// of its tables.
func unalignedFile(t *testing.T, old int64) string {
	path := filepath.Join(t.TempDir(), "old.db")
	db := openRaw(t, path)
	dir, err := fs.Sub(unalignedFiles, "testdata/unaligned")
	require.NoError(t, err)
	p, err := goose.NewProvider(goose.DialectSQLite3, db, dir, goose.WithDisableGlobalRegistry(true))
	require.NoError(t, err)
	for v := int64(1); v <= old; v++ { // rows written as the file aged
		_, err = p.UpTo(t.Context(), v)
		require.NoError(t, err)
		for _, s := range seed {
			if s.version == v {
				_, err := db.Exec(s.sql)
				require.NoError(t, err, s.sql)
			}
		}
	}
	require.Equal(t, 0, userVersion(t, db), "the old files leave user_version alone")
	require.NoError(t, db.Close())
	return path
}

func migrate(t *testing.T, path string) {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, quiet)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Migrate(t.Context()))
}

// openRaw opens path with the bare driver, to look at what a Store hides.
func openRaw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func versions(t *testing.T, db *sql.DB) []int64 {
	t.Helper()
	var vs []int64
	rs, err := db.Query(`SELECT version_id FROM goose_db_version ORDER BY version_id`)
	require.NoError(t, err)
	defer rs.Close()
	for rs.Next() {
		var v int64
		require.NoError(t, rs.Scan(&v))
		vs = append(vs, v)
	}
	require.NoError(t, rs.Err())
	return vs
}

func userVersion(t *testing.T, db *sql.DB) int {
	t.Helper()
	var v int
	require.NoError(t, db.QueryRow(`PRAGMA user_version`).Scan(&v))
	return v
}

// schemaOf lists every table, index and trigger of the file at path with
// the SQL that creates it (as it stands after any ALTER TABLE).
func schemaOf(t *testing.T, path string) []string {
	t.Helper()
	db := openRaw(t, path)
	var out []string
	rs, err := db.Query(`SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name`)
	require.NoError(t, err)
	defer rs.Close()
	for rs.Next() {
		var typ, name, table, def string
		require.NoError(t, rs.Scan(&typ, &name, &table, &def))
		out = append(out, strings.Join([]string{typ, name, table, def}, " | "))
	}
	require.NoError(t, rs.Err())
	return out
}

// columns lists the columns of every table except goose's and SQLite's.
func columns(t *testing.T, db *sql.DB) map[string][]string {
	t.Helper()
	rs, err := db.Query(`SELECT m.name, c.name FROM sqlite_schema m, pragma_table_info(m.name) c
		WHERE m.type = 'table' AND m.name NOT IN ('goose_db_version', 'sqlite_sequence') ORDER BY m.name, c.cid`)
	require.NoError(t, err)
	defer rs.Close()
	out := map[string][]string{}
	for rs.Next() {
		var table, col string
		require.NoError(t, rs.Scan(&table, &col))
		out[table] = append(out[table], col)
	}
	require.NoError(t, rs.Err())
	return out
}

// rows renders every row of the given tables and columns, sorted, per
// table.
func rows(t *testing.T, db *sql.DB, cols map[string][]string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for table, cs := range cols {
		rs, err := db.Query(`SELECT ` + strings.Join(cs, ", ") + ` FROM ` + table)
		require.NoError(t, err)
		out[table] = []string{}
		for rs.Next() {
			vals := make([]any, len(cs))
			ptrs := make([]any, len(cs))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rs.Scan(ptrs...))
			var b strings.Builder
			for i, c := range cs {
				fmt.Fprintf(&b, "%s=%#v ", c, vals[i])
			}
			out[table] = append(out[table], b.String())
		}
		require.NoError(t, rs.Err())
		require.NoError(t, rs.Close())
		slices.Sort(out[table])
	}
	return out
}
