package migrations_test

import (
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence/migrations"
)

// The schema-parity test applies the migrations of both dialects and
// compares what they built: tables, columns with their types (mapped
// below), nullability and defaults, primary keys, unique constraints,
// indexes (columns, uniqueness, partial predicates), foreign keys, and
// functions, views and triggers. Each schema is read from its catalog and
// written as a set of facts in one vocabulary (facts_test.go), so the two
// sets must be equal, except for the known differences listed below.
//
// Not compared: CHECK constraints (free-form expressions written
// differently on purpose, e.g. json_valid for jsonb), collations (see
// pgTypes) and Postgres sequences (a serial column's default says
// AUTOINCREMENT, as SQLite's rowid alias does).

// pgTypes maps each Postgres column type the schema uses to the type of
// its SQLite column. SQLite tables are STRICT (checked), so these are the
// only types SQLite will store in them. A Postgres type missing here fails
// the test: decide its SQLite form and add it.
//
// Text is compared bytewise in SQLite (its default collation, BINARY);
// Postgres columns whose order matters (ids) say COLLATE "C" for the same
// order. Only the default collation and "C" are accepted.
var pgTypes = map[string]string{
	"text":                     "TEXT",
	"bigint":                   "INTEGER",
	"integer":                  "INTEGER",
	"boolean":                  "INTEGER", // 0 or 1, with CHECK (x IN (0, 1))
	"timestamp with time zone": "INTEGER", // microseconds since the Unix epoch, UTC
	"double precision":         "REAL",
	"bytea":                    "BLOB",
	"jsonb":                    "TEXT", // JSON text
	"text[]":                   "TEXT", // a JSON array of strings
}

// Where a fact exists only.
const (
	onlyPostgres = "postgres"
	onlySQLite   = "sqlite"
)

// knownDifferences are the facts that are true of one dialect only, on
// purpose, each with the reason. Anything else that differs fails the
// test, and so does an entry here that no longer differs (delete it).
var knownDifferences = []struct{ only, fact, why string }{
	{onlyPostgres, "function reserve_driver",
		"SQLite has no stored procedures: sqlite.Store.Commit runs the same guarded UPDATE (I2) in its write transaction"},

	{onlyPostgres, "unique index users_email_lower_key ON users (lower(email))", emailKey},
	{onlySQLite, "column users.email_key TEXT NOT NULL", emailKey},
	{onlySQLite, "unique index users_email_key ON users (email_key)", emailKey},

	{onlyPostgres, "primary key outbox (id)", outboxKey},
	{onlySQLite, "primary key outbox (pos)", outboxKey},
	{onlySQLite, "unique outbox (id)", outboxKey},

	{onlyPostgres, "index outbox_unpublished_pos ON outbox (pos) WHERE published_at IS NULL", outboxIndexName},
	{onlySQLite, "index outbox_unpublished_idx ON outbox (pos) WHERE published_at IS NULL", outboxIndexName},
}

const (
	emailKey = "e-mails are unique case-insensitively; SQLite's lower() folds ASCII only, " +
		"so SQLite stores the e-mail lower-cased by Go (email_key) and makes that unique"
	outboxKey = "SQLite keys the outbox by pos, its rowid (INTEGER PRIMARY KEY AUTOINCREMENT), which numbers " +
		"inserts for free; Postgres added pos later (00002) as a bigserial beside its key id; id is unique in both"
	outboxIndexName = "the same index; SQLite's 00001_init created it under the name that Postgres's 00004 " +
		"dropped from another index, and renaming it would take a migration that changes nothing else"
)

// TestSchemaParity is the check itself.
func TestSchemaParity(t *testing.T) {
	t.Parallel()
	pg := postgresFacts(t, openPostgres(t))
	lite := sqliteFacts(t, openSQLite(t))
	if diffs := unexplained(pg, lite); len(diffs) > 0 {
		t.Fatalf("the schemas of the two dialects differ: make them agree, or list a deliberate difference in knownDifferences:\n\t%s",
			strings.Join(diffs, "\n\t"))
	}
}

// TestSchemaParityDetectsDrift: a column added to one dialect only, an
// index added to the other and a known difference that went away are
// reported, and nothing else is.
func TestSchemaParityDetectsDrift(t *testing.T) {
	t.Parallel()
	pgStore, liteDB := openPostgres(t), openSQLite(t)
	_, err := pgStore.Pool().Exec(t.Context(), `ALTER TABLE orders ADD COLUMN drift_probe text NOT NULL DEFAULT ''`)
	require.NoError(t, err)
	for _, stmt := range []string{
		`CREATE INDEX drift_probe_idx ON orders (notes) WHERE notes <> ''`,
		`DROP INDEX users_email_key`,
	} {
		_, err = liteDB.ExecContext(t.Context(), stmt)
		require.NoError(t, err)
	}

	require.Equal(t, []string{
		"known difference no longer true: only in sqlite: unique index users_email_key ON users (email_key)",
		"only in Postgres: column orders.drift_probe TEXT NOT NULL DEFAULT ''",
		"only in SQLite: index drift_probe_idx ON orders (notes) WHERE notes <> ''",
	}, unexplained(postgresFacts(t, pgStore), sqliteFacts(t, liteDB)))
}

// TestMigrationFilesPair: every change has one number and one file name
// in both dialects.
func TestMigrationFilesPair(t *testing.T) {
	t.Parallel()
	names := func(fsys fs.FS) []string {
		files, err := fs.Glob(fsys, "*.sql")
		require.NoError(t, err)
		require.NotEmpty(t, files)
		return files
	}
	require.Equal(t, names(migrations.Postgres), names(migrations.SQLite),
		"add a migration to both postgres/ and sqlite/ under the same name (an empty one, with a comment, where a dialect needs nothing)")
}

// unexplained lists the facts of one schema only that knownDifferences
// does not explain, and the entries of knownDifferences that explain
// nothing.
func unexplained(pg, lite map[string]bool) []string {
	known := map[string]bool{}
	var out []string
	for _, d := range knownDifferences {
		key := d.only + " " + d.fact
		known[key] = true
		inPG, inLite := pg[d.fact], lite[d.fact]
		if (d.only == onlyPostgres && !(inPG && !inLite)) || (d.only == onlySQLite && !(inLite && !inPG)) {
			out = append(out, "known difference no longer true: only in "+d.only+": "+d.fact)
		}
	}
	for f := range pg {
		if !lite[f] && !known[onlyPostgres+" "+f] {
			out = append(out, "only in Postgres: "+f)
		}
	}
	for f := range lite {
		if !pg[f] && !known[onlySQLite+" "+f] {
			out = append(out, "only in SQLite: "+f)
		}
	}
	slices.Sort(out)
	return out
}
