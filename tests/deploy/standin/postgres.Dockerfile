# A local stand-in for the `postgres` image of docker-compose.yaml, for machines that cannot pull it:
# Debian bookworm (debootstrap minbase + postgresql-15), imported with `docker import` as ROOTFS.
# Same interface as the official image where docker-compose.yaml relies on it: POSTGRES_USER,
# POSTGRES_PASSWORD, POSTGRES_DB; data in /var/lib/postgresql/data (a volume); *.sql in
# /docker-entrypoint-initdb.d/ run once, on an empty data directory, with psql ON_ERROR_STOP as
# POSTGRES_USER against POSTGRES_DB; pg_isready and psql on PATH; listens on 5432 with password auth.
ARG ROOTFS
FROM ${ROOTFS}
LABEL org.courier.standin="postgres stand-in: debootstrap bookworm minbase + Debian postgresql-15"
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN mkdir -p /var/lib/postgresql/data /docker-entrypoint-initdb.d /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
    && chmod 0700 /var/lib/postgresql/data \
    && chmod 0755 /usr/local/bin/docker-entrypoint.sh \
    && printf '%s\n' "stand-in for postgres (tests/deploy/standin/postgres.Dockerfile)" >/etc/courier-standin
USER postgres
EXPOSE 5432
ENTRYPOINT ["/usr/bin/dumb-init", "--", "/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
