#!/bin/sh
# One-shot (docker-compose service temporal-schema): creates Temporal's two PostgreSQL databases and
# brings their schemas to the version of the server image. Safe to run again: an existing database
# is kept and update-schema applies only what is missing.
set -eu
SQL_PASSWORD="$(cat /run/secrets/postgres_password)"
export SQL_PASSWORD
schema=/etc/temporal/schema/postgresql/v12
sql() { temporal-sql-tool --plugin postgres12 --ep postgresql --port 5432 --user temporal "$@"; }
for db in temporal temporal_visibility; do
  sql --db "$db" create-database 2>/dev/null || echo "database $db exists"
done
sql --db temporal setup-schema -v 0.0
sql --db temporal update-schema -d "$schema/temporal/versioned"
sql --db temporal_visibility setup-schema -v 0.0
sql --db temporal_visibility update-schema -d "$schema/visibility/versioned"
echo "schemas ready"
