#!/usr/bin/env bash
# Entrypoint of deployments/stack/postgres.Dockerfile: the official postgres image's interface.
# On first start (empty PGDATA) create the cluster with POSTGRES_USER (password
# POSTGRES_PASSWORD, required; scram-sha-256 over TCP) and the database POSTGRES_DB; then run
# the server with the given arguments. TCP opens only once the cluster is ready.
set -euo pipefail
BIN=/usr/lib/postgresql/15/bin
USER_NAME=${POSTGRES_USER:-postgres}
DATABASE=${POSTGRES_DB:-$USER_NAME}
IDENTIFIER='^[A-Za-z_][A-Za-z0-9_]*$'
[[ -n ${POSTGRES_PASSWORD:-} ]] || { echo "postgres-entrypoint: POSTGRES_PASSWORD must be set" >&2; exit 64; }
[[ $USER_NAME =~ $IDENTIFIER && $DATABASE =~ $IDENTIFIER ]] \
    || { echo "postgres-entrypoint: POSTGRES_USER and POSTGRES_DB must be plain identifiers" >&2; exit 64; }

if [[ ! -s $PGDATA/PG_VERSION ]]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    "$BIN/initdb" -D "$PGDATA" -U "$USER_NAME" --encoding=UTF8 --locale=C.UTF-8 --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    if [[ $DATABASE != postgres ]]; then
        echo "CREATE DATABASE \"$DATABASE\" OWNER \"$USER_NAME\";" | "$BIN/postgres" --single -D "$PGDATA" postgres >/dev/null
    fi
fi
[[ ${1:-} == postgres ]] && shift
exec "$BIN/postgres" -D "$PGDATA" "$@"
