"""`linedesk` — the command line (SPEC §3)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from core.blocks import BLOCKS
from core.bpmn.catalog import Catalog, load_catalog
from core.config import Config, ConfigError, load_config, resolve_config_path
from core.model import SessionStatus
from core.store import open_store


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    code: int = args.run(args)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linedesk", description="Customer chats, operator desks, business processes.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo", help="play the whole product against local sandboxes (no tokens, no network)")
    demo.add_argument("--quiet", action="store_true", help="print only the summary")
    demo.set_defaults(run=_demo)

    for name, run, text in (
        ("serve", _serve, "run linedesk"),
        ("check-config", _check_config, "validate the config and every BPMN file"),
        ("processes", _processes, "list the process catalog by scope"),
        ("sessions", _sessions, "list sessions"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--config", help="config file (default: $LINEDESK_CONFIG or linedesk.toml)")
        sub.set_defaults(run=run)
        if name == "sessions":
            sub.add_argument("--status", choices=[s.value for s in SessionStatus], action="append")
            sub.add_argument("--line")
            sub.add_argument("--limit", type=int, default=50)
    return parser


def _load(args: argparse.Namespace) -> Config | None:
    try:
        return load_config(resolve_config_path(args.config))
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return None


def _catalog_problems(config: Config, catalog: Catalog) -> list[str]:
    problems = [str(p) for p in catalog.problems]
    for index, line in enumerate(config.lines):
        for rule_index, rule in enumerate(line.autostart):
            if rule.process not in catalog:
                problems.append(f"{config.config_path or 'config'}: lines[{index}].autostart[{rule_index}].process: "
                                f"no process {rule.process!r} in the catalog ({config.processes.dir})")
    return problems


def _check_config(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return 1
    catalog = load_catalog(config.processes.dir, BLOCKS)
    problems = _catalog_problems(config, catalog)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"OK: {len(config.lines)} line(s), {len(config.operators)} operator(s), {len(catalog)} process(es).")
    return 0


def _processes(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return 1
    catalog = load_catalog(config.processes.dir, BLOCKS)
    for group in catalog.grouped():
        print(group.scope.title)
        for entry in group.processes:
            print(f"  {entry.id:<28} {entry.name}  ({entry.file.relative_to(catalog.root)})")
    for problem in catalog.problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if catalog.problems else 0


def _sessions(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return 1

    async def run() -> int:
        store = open_store(config.store_url_resolved(), config.base_dir)
        await store.open()
        try:
            statuses = [SessionStatus(s) for s in args.status] if args.status else None
            sessions = await store.list_sessions(status=statuses, line_id=args.line, limit=args.limit)
            for session in sessions:
                client = await store.get_client(session.client_id)
                print(f"#{session.number:<5} {session.status.value:<7} {session.line_id:<12} "
                      f"{client.name if client else session.client_id:<24} {session.assignee or '-'}")
            if not sessions:
                print("no sessions")
        finally:
            await store.close()
        return 0

    return asyncio.run(run())


def _serve(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from bots.app import Linedesk

    desk = Linedesk(config)
    problems = _catalog_problems(config, desk.catalog)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    return asyncio.run(_serve_forever(desk))


async def _serve_forever(desk: object) -> int:
    from aiohttp import web

    from bots.app import Linedesk

    assert isinstance(desk, Linedesk)
    runner = web.AppRunner(desk.web_app())
    await runner.setup()
    site = web.TCPSite(runner, desk.config.server.host, desk.config.server.port)
    await site.start()
    await desk.start()
    logging.getLogger("linedesk").info("listening on %s:%s", desk.config.server.host, desk.config.server.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await desk.stop()
    await runner.cleanup()
    return 0


def _demo(args: argparse.Namespace) -> int:
    from bots.demo import run_demo

    return asyncio.run(run_demo(quiet=args.quiet))


def package_processes_dir() -> Path:
    """The example processes: shipped inside the wheel, or the repository's folder in a checkout."""
    shipped = Path(__file__).parent / "demo_data" / "processes"
    if shipped.is_dir():
        return shipped
    return Path(__file__).resolve().parent.parent / "processes"


if __name__ == "__main__":
    raise SystemExit(main())
