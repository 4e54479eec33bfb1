#!/usr/bin/env bash
# Create/refresh the accord_owner and accord_app roles in one database.
#   PGHOST=db.internal PGUSER=admin ACCORD_OWNER_PASSWORD=... ACCORD_APP_PASSWORD=... \
#     infra/postgres-roles.sh accord
# Connection comes from the usual libpq variables (PGHOST, PGPORT, PGUSER,
# PGPASSWORD, PGSSLMODE...); PGHOST/PGUSER default to 127.0.0.1/postgres.
# Re-runnable: roles are created only when missing, grants are idempotent.
set -euo pipefail

# POSTGRES_DB: set by the official postgres image, whose first-start init
# runs this script (see compose.yaml).
db=${1:-${PGDATABASE:-${POSTGRES_DB:-}}}
[[ -n $db ]] || { echo "usage: $0 DATABASE" >&2; exit 2; }

export PGHOST=${PGHOST:-127.0.0.1}
export PGUSER=${PGUSER:-postgres}

sql_file="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/postgres/roles.sql"
[[ -f $sql_file ]] || { echo "postgres-roles: missing $sql_file" >&2; exit 1; }

# psql's \set quoting: double backslashes and single quotes.
psql_quote() {
  local s=$1
  if [[ $s == *$'\n'* ]]; then
    echo "postgres-roles: passwords must not contain newlines" >&2; exit 1
  fi
  s=${s//\\/\\\\}
  s=${s//\'/\'\'}
  printf "'%s'" "$s"
}

# Passwords travel on stdin rather than `psql -v`, so they never show in ps.
{
  printf '\\set owner_password %s\n' "$(psql_quote "${ACCORD_OWNER_PASSWORD:-}")"
  printf '\\set app_password %s\n' "$(psql_quote "${ACCORD_APP_PASSWORD:-}")"
  cat "$sql_file"
} | psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f -

echo "postgres-roles: accord_owner and accord_app ready in database '$db' on $PGHOST"
