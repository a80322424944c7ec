package migrations_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence/postgres"
	"github.com/outrider/outrider/persistence/postgres/pgtest"
)

// openPostgres is a Postgres schema of its own migrated by
// persistence/postgres (the test fails if the server is down).
func openPostgres(t *testing.T) *postgres.Store { return pgtest.Open(t) }

// postgresFacts reads the schema of s's search path from the catalog.
func postgresFacts(t *testing.T, s *postgres.Store) map[string]bool {
	t.Helper()
	facts := map[string]bool{}
	for _, read := range []func(*testing.T, *postgres.Store, map[string]bool){
		pgTables, pgColumns, pgIndexes, pgForeignKeys, pgRoutines,
	} {
		read(t, s, facts)
	}
	return facts
}

// pgQuery runs sql, with goose's table (to leave out) as $1 if it names
// $1, and scans each row.
func pgQuery(t *testing.T, s *postgres.Store, sql string, scan func(pgx.Rows) error) {
	t.Helper()
	var args []any
	if strings.Contains(sql, "$1") {
		args = []any{gooseTable}
	}
	rows, err := s.Pool().Query(t.Context(), sql, args...)
	require.NoError(t, err, sql)
	defer rows.Close()
	for rows.Next() {
		require.NoError(t, scan(rows), sql)
	}
	require.NoError(t, rows.Err(), sql)
}

func pgTables(t *testing.T, s *postgres.Store, facts map[string]bool) {
	pgQuery(t, s, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname <> $1`,
		func(r pgx.Rows) error {
			var table string
			err := r.Scan(&table)
			facts["table "+table] = true
			return err
		})
}

func pgColumns(t *testing.T, s *postgres.Store, facts map[string]bool) {
	pgQuery(t, s, `SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
			coalesce(pg_get_expr(d.adbin, d.adrelid), ''), coalesce(co.collname, '')
		FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		LEFT JOIN pg_collation co ON co.oid = a.attcollation
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname <> $1
			AND a.attnum > 0 AND NOT a.attisdropped`,
		func(r pgx.Rows) error {
			var table, col, typ, dflt, coll string
			var notNull bool
			if err := r.Scan(&table, &col, &typ, &notNull, &dflt, &coll); err != nil {
				return err
			}
			mapped, ok := pgTypes[typ]
			if !ok {
				mapped = fmt.Sprintf("<Postgres type %q, not in pgTypes>", typ)
			}
			if coll != "" && coll != "default" && coll != "C" {
				mapped += fmt.Sprintf(" <COLLATE %q, which SQLite does not have>", coll)
			}
			facts[columnFact(table, col, mapped, notNull, pgDefault(dflt))] = true
			return nil
		})
}

// pgIndexes states every index, those of primary keys and UNIQUE
// constraints as such. Each column is written as pg_get_indexdef writes
// it, with DESC from indoption; INCLUDE columns follow the key columns.
func pgIndexes(t *testing.T, s *postgres.Store, facts map[string]bool) {
	pgQuery(t, s, `SELECT t.relname, i.relname, am.amname, x.indisunique, coalesce(con.contype, ''),
			coalesce(pg_get_expr(x.indpred, x.indrelid), ''),
			array(SELECT pg_get_indexdef(x.indexrelid, k, true) ||
					CASE WHEN k <= x.indnkeyatts AND x.indoption[k - 1] & 1 = 1 THEN ' DESC' ELSE '' END
				FROM generate_series(1, x.indnatts) k ORDER BY k)
		FROM pg_index x
		JOIN pg_class i ON i.oid = x.indexrelid
		JOIN pg_class t ON t.oid = x.indrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		JOIN pg_am am ON am.oid = i.relam
		LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid
			AND con.contype IN ('p', 'u')
		WHERE n.nspname = current_schema() AND t.relname <> $1`,
		func(r pgx.Rows) error {
			var table, name, method, constraint, where string
			var unique bool
			var cols []string
			if err := r.Scan(&table, &name, &method, &unique, &constraint, &where, &cols); err != nil {
				return err
			}
			if method != "btree" {
				name += " USING " + method // SQLite's indexes are all b-trees
			}
			facts[indexFact(table, name, constraint, unique, cols, normalizeExpr(where))] = true
			return nil
		})
}

var pgActions = map[string]string{"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}

func pgForeignKeys(t *testing.T, s *postgres.Store, facts map[string]bool) {
	pgQuery(t, s, `SELECT t.relname, r.relname, c.confdeltype, c.confupdtype,
			array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(num, ord)
				JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num ORDER BY k.ord),
			array(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(num, ord)
				JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num ORDER BY k.ord)
		FROM pg_constraint c
		JOIN pg_class t ON t.oid = c.conrelid
		JOIN pg_class r ON r.oid = c.confrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		WHERE n.nspname = current_schema() AND c.contype = 'f' AND t.relname <> $1`,
		func(r pgx.Rows) error {
			var table, ref, onDelete, onUpdate string
			var cols, refCols []string
			if err := r.Scan(&table, &ref, &onDelete, &onUpdate, &cols, &refCols); err != nil {
				return err
			}
			facts[foreignKeyFact(table, cols, ref, refCols, pgActions[onDelete], pgActions[onUpdate])] = true
			return nil
		})
}

// pgRoutines states functions, views and triggers (not those Postgres
// makes for constraints).
func pgRoutines(t *testing.T, s *postgres.Store, facts map[string]bool) {
	pgQuery(t, s, `SELECT 'function ' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
			WHERE n.nspname = current_schema()
		UNION ALL
		SELECT 'view ' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = current_schema() AND c.relkind IN ('v', 'm')
		UNION ALL
		SELECT 'trigger ' || tg.tgname FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
			JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = current_schema() AND NOT tg.tgisinternal`,
		func(r pgx.Rows) error {
			var f string
			err := r.Scan(&f)
			facts[f] = true
			return err
		})
}

var serial = regexp.MustCompile(`^nextval\('[^']+'(::regclass)?\)$`)

// pgDefault writes a Postgres column default as SQLite states it: a
// serial's sequence as AUTOINCREMENT, booleans as 0 and 1.
func pgDefault(d string) string {
	switch {
	case d == "":
		return ""
	case serial.MatchString(d):
		return "AUTOINCREMENT"
	}
	switch d = normalizeExpr(d); d {
	case "false":
		return "DEFAULT 0"
	case "true":
		return "DEFAULT 1"
	}
	return "DEFAULT " + d
}
