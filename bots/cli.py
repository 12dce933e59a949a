"""`linedesk` — the command line (SPEC §3)."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from core.autostart import EVENTS, Autostart, EffectiveRule, RuleAuthor
from core.blocks import BLOCKS
from core.bpmn.catalog import Catalog, load_catalog
from core.clock import SystemClock
from core.config import Config, ConfigError, load_config, resolve_config_path
from core.errors import Refusal
from core.model import InstanceRecord, Session, SessionStatus, listed_statuses
from core.processes.assignment import people_notes
from core.store import Store, StoreError, open_store
from core.transcripts import TranscriptReader, transcript_json, transcript_text


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
    demo.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the transcript: auto (default) when the output is a terminal and NO_COLOR "
        "is not set (FORCE_COLOR forces it), always, or never",
    )
    demo.set_defaults(run=_demo)

    init = commands.add_parser(
        "init", help="write a starter linedesk.toml, .env and the example processes into a new folder"
    )
    init.add_argument(
        "dir",
        nargs="?",
        default=".",
        metavar="DIR",
        help="the folder (default: the current one); created if missing, must be empty",
    )
    init.add_argument(
        "--force",
        action="store_true",
        help="write into a folder that is not empty, replacing files with the same names",
    )
    init.set_defaults(run=_init)

    for name, run, text in (
        ("serve", _serve, "run linedesk"),
        ("check-config", _check_config, "validate the config and every BPMN file"),
        ("processes", _processes, "list the process catalog by scope"),
        ("sessions", _sessions, "list sessions (spam only when asked for with --status spam)"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--config", help="config file (default: $LINEDESK_CONFIG or linedesk.toml)")
        sub.set_defaults(run=run)
        if name == "sessions":
            sub.add_argument(
                "--status",
                choices=[s.value for s in SessionStatus],
                action="append",
                help="only sessions in this status (repeatable); default: every status but spam",
            )
            sub.add_argument("--line", help="only sessions of this line id")
            sub.add_argument("--operator", help="only sessions assigned to this operator id")
            sub.add_argument(
                "--client", help='only sessions of this client id: "telegram:<user id>" or "slack:<user id>"'
            )
            sub.add_argument("--limit", type=int, default=50)

    autostart = commands.add_parser(
        "autostart",
        help="set an automatic start rule (admin), or --list every line's rules",
        usage="linedesk autostart LINE EVENT PROCESS on|off [--config FILE]\n"
        "       linedesk autostart --list [--config FILE]",
    )
    autostart.add_argument("rule", nargs="*", metavar="LINE EVENT PROCESS on|off")
    autostart.add_argument("--list", action="store_true", help="print every line's effective rules")
    autostart.add_argument("--config", help="config file (default: $LINEDESK_CONFIG or linedesk.toml)")
    autostart.set_defaults(run=_autostart, parser=autostart)

    transcript = commands.add_parser("transcript", help="print a session's transcript (SPEC §14)")
    transcript.add_argument("number", type=int, metavar="N", help="the session number")
    transcript.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or json")
    transcript.add_argument("--config", help="config file (default: $LINEDESK_CONFIG or linedesk.toml)")
    transcript.set_defaults(run=_transcript)

    items = commands.add_parser("items", help="list the items of an app (e.g. leads)")
    items.add_argument("app")
    items.add_argument("--limit", type=int, default=50)
    items.add_argument("--config", help="config file (default: $LINEDESK_CONFIG or linedesk.toml)")
    items.set_defaults(run=_items)
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
                problems.append(
                    f"{config.config_path or 'config'}: lines[{index}].autostart[{rule_index}].process: "
                    f"no process {rule.process!r} in the catalog ({config.processes.dir})"
                )
    return problems


def _check_config(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return 1
    catalog = load_catalog(config.processes.dir, BLOCKS)
    problems = _catalog_problems(config, catalog)
    for problem in problems:
        print(problem, file=sys.stderr)
    for note in [*catalog.notes, *people_notes(catalog, config)]:
        print(f"note: {note}")
    if problems:
        return 1
    print(f"OK: {len(config.lines)} line(s), {len(config.operators)} operator(s), {len(catalog)} process(es).")
    return 0


def _processes(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return 1
    catalog = load_catalog(config.processes.dir, BLOCKS)
    for group in catalog.grouped(everything=True):
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

    async def run(store: Store) -> int:
        statuses = [SessionStatus(s) for s in args.status] if args.status else listed_statuses()
        sessions = await store.list_sessions(
            status=statuses, line_id=args.line, assignee=args.operator, client_id=args.client, limit=args.limit
        )
        for session in sessions:
            client = await store.get_client(session.client_id)
            print(
                f"#{session.number:<5} {session.status.value:<7} {session.line_id:<12} "
                f"{client.name if client else session.client_id:<24} {session.assignee or '-'}"
            )
        if not sessions:
            print("no sessions")
        return 0

    return _with_store(config, run)


def _with_store(config: Config, work: Callable[[Store], Awaitable[int]]) -> int:
    """Run `work` against the configured store (works while the server runs: SQLite WAL or Redis)."""

    async def run() -> int:
        store = open_store(config.store_url_resolved(), config.base_dir)
        try:
            await store.open()
        except StoreError as err:  # a wrong password, no server there: one line, not a traceback
            print(f"linedesk: the store could not be opened: {err}", file=sys.stderr)
            return 1
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


class _CatalogOnly:
    """The process side of `Autostart` for the CLI: rules are checked against the catalog and
    stored; they fire in the running server, never here."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    async def start(
        self,
        process_id: str,
        session: Session | None,
        *,
        started_by: str,
        trigger: str,
        extra: dict[str, Any] | None = None,
    ) -> InstanceRecord:
        raise RuntimeError("the CLI does not start processes")


def rule_row(line_id: str, event: str, rule: EffectiveRule | None) -> str:
    if rule is None:
        return f"{line_id:<16} {event:<17} {'-':<28} off  (no rule)"
    return f"{line_id:<16} {event:<17} {rule.process_id:<28} {'on' if rule.enabled else 'off':<4} {rule.source}"


def _autostart(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    if args.list == bool(args.rule) or (args.rule and (len(args.rule) != 4 or args.rule[3] not in ("on", "off"))):
        parser.print_usage(sys.stderr)
        print(
            f"linedesk autostart: give LINE EVENT PROCESS on|off, or --list (events: {', '.join(EVENTS)})",
            file=sys.stderr,
        )
        return 2
    config = _load(args)
    if config is None:
        return 1
    catalog = load_catalog(config.processes.dir, BLOCKS)

    async def run(store: Store) -> int:
        autostart = Autostart(store, config, SystemClock(), _CatalogOnly(catalog))
        if args.list:
            rules = {(r.line_id, r.event): r for r in await autostart.rules()}
            for line in config.lines:
                for event in EVENTS:
                    print(rule_row(line.id, event, rules.get((line.id, event))))
            return 0
        line_id, event, process_id, state = args.rule
        try:
            rule = await autostart.set_rule(
                line_id, event, process_id, state == "on", by=RuleAuthor("cli", require_admin=False)
            )
        except Refusal as refusal:
            print(refusal.reason, file=sys.stderr)
            return 1
        print(rule_row(rule.line_id, rule.event, rule))
        return 0

    return _with_store(config, run)


def _items(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return 1

    async def run(store: Store) -> int:
        items = sorted(await store.list_items(args.app, limit=args.limit), key=lambda item: item.number)
        for item in items:
            when = datetime.datetime.fromtimestamp(item.created_at, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
            session = f"#{item.session}" if item.session is not None else "-"
            print(
                f"{item.app} #{item.number:<5} {when}  session {session:<6} "
                f"{json.dumps(item.fields, ensure_ascii=False, sort_keys=True, default=str)}"
            )
        if not items:
            print(f"no items in {args.app}")
        return 0

    return _with_store(config, run)


def _transcript(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return 1

    async def run(store: Store) -> int:
        transcript = await TranscriptReader(store, config).read(args.number)
        if transcript is None:
            print(f"linedesk transcript: no session #{args.number}", file=sys.stderr)
            return 1
        print(transcript_json(transcript) if args.format == "json" else transcript_text(transcript), end="")
        if args.format == "json":
            print()
        return 0

    return _with_store(config, run)


def _serve(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return 1
    from bots.app import Linedesk
    from bots.logs import setup_logging
    from bots.serve import serve

    setup_logging(config)

    desk = Linedesk(config)
    problems = _catalog_problems(config, desk.catalog)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    return asyncio.run(serve(desk))


def _demo(args: argparse.Namespace) -> int:
    from bots.demo import run_demo

    color = {"always": True, "never": False}.get(args.color)
    return asyncio.run(run_demo(quiet=args.quiet, color=color))


def _init(args: argparse.Namespace) -> int:
    from bots.init import InitError, init_folder, package_processes_dir, report

    target = Path(args.dir).expanduser()
    try:
        written = init_folder(target, package_processes_dir(), force=args.force)
    except (InitError, OSError) as err:
        print(f"linedesk init: {err}", file=sys.stderr)
        return 1
    print(report(target, args.dir, written))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
