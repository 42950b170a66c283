#!/usr/bin/env bash
# Initialise an empty data directory like the official postgres image does, then run the server.
set -euo pipefail
: "${POSTGRES_PASSWORD:?the postgres stand-in needs POSTGRES_PASSWORD}"
POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-${POSTGRES_USER}}"
if [ ! -s "${PGDATA}/PG_VERSION" ]; then
    echo "postgres stand-in: initialising ${PGDATA}"
    pwfile="$(mktemp)"
    printf '%s\n' "${POSTGRES_PASSWORD}" >"${pwfile}"
    initdb --username="${POSTGRES_USER}" --pwfile="${pwfile}" --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 -D "${PGDATA}" >/dev/null
    rm -f "${pwfile}"
    printf '%s\n' "host all all all scram-sha-256" >>"${PGDATA}/pg_hba.conf"
    # A socket-only server while the init scripts run, so nothing counts it as ready over TCP.
    pg_ctl -D "${PGDATA}" -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" -w start >/dev/null
    if [ "${POSTGRES_DB}" != "postgres" ]; then
        psql -v ON_ERROR_STOP=1 -h /var/run/postgresql -U "${POSTGRES_USER}" -d postgres \
            -c "CREATE DATABASE \"${POSTGRES_DB}\"" >/dev/null
    fi
    for script in /docker-entrypoint-initdb.d/*.sql; do
        [ -e "${script}" ] || continue
        echo "postgres stand-in: running ${script}"
        psql -v ON_ERROR_STOP=1 -h /var/run/postgresql -U "${POSTGRES_USER}" -d "${POSTGRES_DB}" -f "${script}"
    done
    pg_ctl -D "${PGDATA}" -m fast -w stop >/dev/null
    echo "postgres stand-in: initialised"
fi
if [ "${1:-}" = "postgres" ]; then
    shift
    exec postgres -D "${PGDATA}" -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql "$@"
fi
exec "$@"
