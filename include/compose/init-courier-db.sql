-- Creates Courier's own database next to Airflow's metadata database in the docker-compose Postgres.
--
-- Mounted into /docker-entrypoint-initdb.d/ by docker-compose.yaml, so the postgres image runs it once,
-- when it initialises an empty data volume, as POSTGRES_USER against POSTGRES_DB (`airflow`).
-- Courier's tables never live in Airflow's metadata database: they get their own role and database,
-- and `courier db migrate` (run by the airflow-init service) creates the tables.
--
-- The role's password comes from the environment (COURIER_DB_PASSWORD, set on the postgres service),
-- read with psql's \getenv (PostgreSQL 15+) so no secret is written in this file. If the variable is
-- missing, :'courier_db_password' is left unexpanded, the statement fails and, because the entrypoint
-- runs psql with ON_ERROR_STOP, so does the initialisation: loudly, not with a passwordless role.

\getenv courier_db_password COURIER_DB_PASSWORD

CREATE ROLE courier LOGIN PASSWORD :'courier_db_password';
CREATE DATABASE courier OWNER courier;
REVOKE ALL ON DATABASE courier FROM PUBLIC;
GRANT ALL PRIVILEGES ON DATABASE courier TO courier;
