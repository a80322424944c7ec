package migrations_test

import (
	"database/sql"
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence/sqlite"
)

// openSQLite is a new file migrated by persistence/sqlite, opened with the
// bare driver so that the test can read its catalog.
func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "parity.db")
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	err = s.Migrate(t.Context())
	s.Close()
	require.NoError(t, err)
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// sqliteTable is a row of pragma_table_list with its CREATE statement.
type sqliteTable struct {
	name, sql          string
	strict, withoutRow bool
}

// sqliteFacts reads the schema of db from SQLite's catalog.
func sqliteFacts(t *testing.T, db *sql.DB) map[string]bool {
	t.Helper()
	facts := map[string]bool{}
	var tables []sqliteTable
	liteQuery(t, db, `SELECT l.name, l.strict, l.wr, m.sql FROM pragma_table_list l
		JOIN sqlite_schema m ON m.name = l.name AND m.type = 'table'
		WHERE l.schema = 'main' AND l.type = 'table' AND l.name NOT LIKE 'sqlite\_%' ESCAPE '\' AND l.name <> ?`,
		[]any{gooseTable}, func(r *sql.Rows) error {
			var tb sqliteTable
			err := r.Scan(&tb.name, &tb.strict, &tb.withoutRow, &tb.sql)
			tables = append(tables, tb)
			return err
		})
	require.NotEmpty(t, tables)
	for _, tb := range tables {
		fact := "table " + tb.name
		if !tb.strict {
			fact += " <not STRICT: the type mapping relies on STRICT tables>"
		}
		facts[fact] = true
		liteColumns(t, db, tb, facts)
		liteIndexes(t, db, tb.name, facts)
		liteForeignKeys(t, db, tb.name, facts)
	}
	liteQuery(t, db, `SELECT type || ' ' || name FROM sqlite_schema WHERE type IN ('view', 'trigger')`, nil,
		func(r *sql.Rows) error {
			var f string
			err := r.Scan(&f)
			facts[f] = true
			return err
		})
	return facts
}

func liteQuery(t *testing.T, db *sql.DB, query string, args []any, scan func(*sql.Rows) error) {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), query, args...)
	require.NoError(t, err, query)
	defer rows.Close()
	for rows.Next() {
		require.NoError(t, scan(rows), query)
	}
	require.NoError(t, rows.Err(), query)
}

var autoincrement = regexp.MustCompile(`(?i)\bAUTOINCREMENT\b`)

// liteColumns states tb's columns and primary key. A primary-key column
// of a WITHOUT ROWID table is NOT NULL whatever it declares, and a rowid
// table's single INTEGER PRIMARY KEY is the rowid itself: never NULL,
// numbered by SQLite (with AUTOINCREMENT, never reused: a serial).
func liteColumns(t *testing.T, db *sql.DB, tb sqliteTable, facts map[string]bool) {
	type column struct {
		name, typ, dflt string
		notNull         bool
		pk              int // position in the primary key, from 1
	}
	var cols []column
	liteQuery(t, db, `SELECT name, type, "notnull", coalesce(dflt_value, ''), pk FROM pragma_table_info(?) ORDER BY cid`,
		[]any{tb.name}, func(r *sql.Rows) error {
			var c column
			err := r.Scan(&c.name, &c.typ, &c.notNull, &c.dflt, &c.pk)
			cols = append(cols, c)
			return err
		})
	var pk []column
	for _, c := range cols {
		if c.pk > 0 {
			pk = append(pk, c)
		}
	}
	slices.SortFunc(pk, func(a, b column) int { return a.pk - b.pk })
	rowid := ""
	if !tb.withoutRow && len(pk) == 1 && strings.EqualFold(pk[0].typ, "INTEGER") {
		rowid = pk[0].name
	}
	for _, c := range cols {
		notNull := c.notNull || (c.pk > 0 && tb.withoutRow) || c.name == rowid
		dflt := ""
		if c.dflt != "" {
			dflt = "DEFAULT " + normalizeExpr(c.dflt)
		}
		if c.name == rowid && autoincrement.MatchString(tb.sql) {
			dflt = "AUTOINCREMENT"
		}
		facts[columnFact(tb.name, c.name, strings.ToUpper(c.typ), notNull, dflt)] = true
	}
	if len(pk) > 0 {
		var names []string
		for _, c := range pk {
			names = append(names, c.name)
		}
		facts[indexFact(tb.name, "", "p", true, names, "")] = true
	}
}

// liteIndexes states table's indexes but the primary key's (stated by
// liteColumns). An expression is written as its CREATE INDEX has it.
func liteIndexes(t *testing.T, db *sql.DB, table string, facts map[string]bool) {
	type index struct {
		name, origin, sql string
		unique            bool
	}
	var indexes []index
	liteQuery(t, db, `SELECT l.name, l."unique", l.origin, coalesce(m.sql, '') FROM pragma_index_list(?) l
		LEFT JOIN sqlite_schema m ON m.name = l.name AND m.type = 'index'`,
		[]any{table}, func(r *sql.Rows) error {
			var ix index
			err := r.Scan(&ix.name, &ix.unique, &ix.origin, &ix.sql)
			indexes = append(indexes, ix)
			return err
		})
	for _, ix := range indexes {
		if ix.origin == "pk" {
			continue
		}
		terms := indexTerms(ix.sql)
		var cols []string
		liteQuery(t, db, `SELECT seqno, cid, coalesce(name, ''), "desc" FROM pragma_index_xinfo(?) WHERE key ORDER BY seqno`,
			[]any{ix.name}, func(r *sql.Rows) error {
				var seq, cid int
				var name string
				var desc bool
				if err := r.Scan(&seq, &cid, &name, &desc); err != nil {
					return err
				}
				if cid == -2 && seq < len(terms) {
					name = normalizeExpr(terms[seq])
				}
				if desc {
					name += " DESC"
				}
				cols = append(cols, name)
				return nil
			})
		constraint := ""
		if ix.origin == "u" {
			constraint = "u"
		}
		facts[indexFact(table, ix.name, constraint, ix.unique, cols, normalizeExpr(predicate(ix.sql)))] = true
	}
}

func liteForeignKeys(t *testing.T, db *sql.DB, table string, facts map[string]bool) {
	type fk struct {
		ref, onDelete, onUpdate string
		cols, refCols           []string
	}
	var fks []*fk
	liteQuery(t, db, `SELECT id, "table", "from", coalesce("to", ''), on_delete, on_update
		FROM pragma_foreign_key_list(?) ORDER BY id, seq`,
		[]any{table}, func(r *sql.Rows) error {
			var id int
			var ref, from, to, onDelete, onUpdate string
			if err := r.Scan(&id, &ref, &from, &to, &onDelete, &onUpdate); err != nil {
				return err
			}
			if id == len(fks) {
				fks = append(fks, &fk{ref: ref, onDelete: onDelete, onUpdate: onUpdate})
			}
			f := fks[id]
			f.cols, f.refCols = append(f.cols, from), append(f.refCols, to)
			return nil
		})
	for _, f := range fks {
		facts[foreignKeyFact(table, f.cols, f.ref, f.refCols, f.onDelete, f.onUpdate)] = true
	}
}

var (
	whereClause = regexp.MustCompile(`(?is)\bWHERE\b(.*)$`)
	indexHead   = regexp.MustCompile(`(?is)^CREATE\s+(UNIQUE\s+)?INDEX\s+.*?\bON\s+\S+?\s*\(`)
)

// predicate is the WHERE clause of a partial index's CREATE statement.
func predicate(create string) string {
	if m := whereClause.FindStringSubmatch(create); m != nil {
		return m[1]
	}
	return ""
}

// indexTerms splits the parenthesised list of a CREATE INDEX statement
// into its terms (columns or expressions, as written).
func indexTerms(create string) []string {
	loc := indexHead.FindStringIndex(create)
	if loc == nil {
		return nil
	}
	var terms []string
	depth, start := 0, loc[1]
	for i := loc[1]; i < len(create); i++ {
		switch create[i] {
		case '(':
			depth++
		case ')':
			if depth == 0 {
				return append(terms, strings.TrimSpace(create[start:i]))
			}
			depth--
		case ',':
			if depth == 0 {
				terms = append(terms, strings.TrimSpace(create[start:i]))
				start = i + 1
			}
		}
	}
	return terms
}
