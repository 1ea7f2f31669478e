#!/usr/bin/env bash
# Message search over 1,000,000 messages: fills a scratch database (dropped first if it exists) with the
# conversations schema from services/conversations/migrations and generated data, then runs the search
# query of `store::messages::search` under EXPLAIN ANALYZE and times it. Needs only Postgres and psql.
#
#   scripts/search-bench.sh              # TEST_DATABASE_HOST/PORT/USER as for the tests
#   KEEP=1 scripts/search-bench.sh       # keep the scratch database afterwards
#   REUSE=1 scripts/search-bench.sh      # query a database kept before, without filling it again
#
# Data: 20,000 users, 10,000 two-person conversations, 100 messages each (1,000,000), eight words per
# message drawn from a 20,000-word vocabulary; one message in 1,000 mentions an "interview". User 1 takes
# part in 100 conversations (10,000 messages).
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=${TEST_DATABASE_HOST:-127.0.0.1}
PORT=${TEST_DATABASE_PORT:-5432}
ROLE=${TEST_DATABASE_USER:-postgres}
DB=junqo_search_bench
psql_() { psql -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U "$ROLE" "$@"; }

if [ "${REUSE:-0}" != 1 ]; then
psql_ -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
psql_ -d "$DB" -c "CREATE SCHEMA conversations"
for migration in services/conversations/migrations/*.sql; do
  PGOPTIONS='-c search_path=conversations' psql_ -d "$DB" -f "$migration"
done

echo "filling 1,000,000 messages..."
start=$(date +%s)
PGOPTIONS='-c search_path=conversations' psql_ -d "$DB" <<'SQL'
-- Users are uuids derived from a number, so the queries below can name user 1.
CREATE FUNCTION pg_temp.u(n int) RETURNS uuid IMMUTABLE LANGUAGE sql AS
  $$ SELECT md5('user' || n)::uuid $$;
CREATE FUNCTION pg_temp.c(n int) RETURNS uuid IMMUTABLE LANGUAGE sql AS
  $$ SELECT md5('conversation' || n)::uuid $$;
INSERT INTO conversations (id, last_seq)
  SELECT pg_temp.c(n), 100 FROM generate_series(1, 10000) n;
-- Conversation n is between users 2n-1 and 2n, except that user 1 is in conversations 1..100.
INSERT INTO participants (conversation_id, user_id)
  SELECT pg_temp.c(n), pg_temp.u(CASE WHEN n <= 100 THEN 1 ELSE 2 * n - 1 END) FROM generate_series(1, 10000) n
  UNION ALL
  SELECT pg_temp.c(n), pg_temp.u(2 * n) FROM generate_series(1, 10000) n;
-- Drop the search index while loading and build it once after (what a restore does); same definition.
DROP INDEX messages_search_idx;
-- Word w of the vocabulary is the first 3 to 9 hex digits of md5('word' || w): no word holds an "i", so
-- only the planted messages match "interv".
INSERT INTO messages (id, conversation_id, seq, sender_id, content, created_at, updated_at)
  SELECT gen_random_uuid(), pg_temp.c(m / 100 + 1), m % 100 + 1, pg_temp.u(2 * (m / 100 + 1)),
         array_to_string(ARRAY(
           SELECT substr(md5('word' || w), 1, 3 + w % 7)
           FROM (SELECT (hashint4(m * 8 + k) & 2147483647) % 20000 AS w FROM generate_series(1, 8) k) x), ' ')
           || CASE WHEN m % 1000 = 7 THEN ' about the interview' ELSE '' END,
         timestamptz '2026-01-01' + m * interval '1 second',
         timestamptz '2026-01-01' + m * interval '1 second'
  FROM generate_series(0, 999999) m;
CREATE INDEX messages_search_idx ON messages USING gin (search);
VACUUM ANALYZE;
SQL
echo "filled in $(( $(date +%s) - start )) s"
fi

# The query of store::messages::search, for user 1 ('interv' is a prefix query, as typed).
read -r -d '' SEARCH <<'SQL' || true
SELECT id, conversation_id, seq, sender_id, content, created_at, updated_at FROM messages
WHERE search @@ to_tsquery('simple', :'q')
  AND conversation_id IN (SELECT conversation_id FROM participants WHERE user_id = md5('user1')::uuid)
ORDER BY created_at DESC LIMIT 20
SQL
for q in "'interv':*" "'interview' & 'about':*"; do
  echo "== q = $q, caller in 100 conversations"
  echo "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) $SEARCH" |
    PGOPTIONS='-c search_path=conversations' psql_ -d "$DB" -v q="$q"
done
echo "== latency: 20 runs of the prefix query, after one warm-up"
PGOPTIONS='-c search_path=conversations' psql_ -d "$DB" -v q="'interv':*" <<SQL
\o /dev/null
$SEARCH;
\o
\timing on
\o /dev/null
$(for _ in $(seq 20); do echo "$SEARCH;"; done)
SQL
[ "${KEEP:-0}" = 1 ] || psql_ -d postgres -c "DROP DATABASE $DB"
