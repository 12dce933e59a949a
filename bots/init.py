"""`linedesk init [DIR]`: a starter folder for your own bot.

It writes `linedesk.toml` (one line, "support", with a Telegram bot on long polling, a Telegram desk
group, an SQLite store and the `processes` folder; a Slack desk ready to uncomment), `.env` (the values
to fill in, commented out so that `linedesk check-config` names each one until it is set, plus a
generated webhook secret and admin API token; mode 0600) and a copy of the example processes.

It refuses a folder that is not empty, and never overwrites a file, unless asked to with `force`.
"""

from __future__ import annotations

import os
import secrets
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

CONFIG_NAME = "linedesk.toml"
ENV_NAME = ".env"
PROCESSES_NAME = "processes"

# The values `linedesk init` cannot know: commented out in .env until the user fills them in.
TO_FILL = ("SUPPORT_BOT_TOKEN", "SUPPORT_DESK_CHAT", "OPERATOR_TELEGRAM_USER")


def package_processes_dir() -> Path:
    """The example processes: shipped inside the wheel, or the repository's folder in a checkout."""
    shipped = Path(__file__).parent / "demo_data" / "processes"
    if shipped.is_dir():
        return shipped
    return Path(__file__).resolve().parent.parent / "processes"


STARTER_CONFIG = """\
# linedesk configuration, written by `linedesk init`. Every key is described in README.md,
# "Configuration reference"; paths are relative to this file's folder.
# ${NAME} is read from the environment, or from the .env next to this file: fill in the values
# marked there, then `linedesk check-config` (it names every value still missing).

[server]
host = "127.0.0.1"           # where linedesk's HTTP server listens (/healthz, /readyz, /metrics, webhooks)
port = 8080
public_url = ""              # empty: the bot fetches its messages (Telegram long polling), no public address
                             # needed. "https://desk.example.com": Telegram webhooks (and Slack's request URL)

[store]
url = "sqlite:///linedesk.db"   # a file next to this one; "redis://host:6379/0" to run several instances

[processes]
dir = "processes"            # the process catalog: *.bpmn, <section>/*.bpmn, <section>/<app>/*.bpmn
http_allow = []              # hosts the linedesk.http block may call, e.g. ["crm.example.com"]

# A Slack desk (optional): create the app from slack-manifest.yml (README "Slack app setup"),
# put its tokens in .env, then uncomment the next three lines and `slack_desk_channel` below;
# for Socket Mode (Slack without a public URL) uncomment `app_token` too.
# [slack]
# bot_token = "${SLACK_BOT_TOKEN}"
# signing_secret = "${SLACK_SIGNING_SECRET}"
# app_token = "${SLACK_APP_TOKEN}"

[[lines]]
id = "support"               # a-z, 0-9, _ and -; used in routes and commands
name = "Support"             # shown to operators on the desks
telegram_token = "${SUPPORT_BOT_TOKEN}"             # the line's Telegram bot: customers write to it
telegram_webhook_secret = "${SUPPORT_BOT_SECRET}"   # generated in .env; used when server.public_url is set
telegram_desk_chat = "${SUPPORT_DESK_CHAT}"         # the Telegram desk: a forum group, one topic per session
# slack_desk_channel = "C0123456789"                # the Slack desk: a channel ID, one thread per session
greeting = "Hello! An operator will answer shortly."
auto_close_after = "4h"      # client silence that closes a session
reopen_within = "10m"        # a client message this soon after closing reopens the same session
auto_assign = false          # true: new sessions go to the online operator with the fewest active ones

  [[lines.autostart]]        # start a process by itself on an event; admins turn it on with /autostart
  event = "session.created"  # session.created | message.received | session.closed | session.overdue
  process = "create_lead"    # a process id from the catalog (processes/Sales/Leads/create_lead.bpmn)
  enabled = false

[[operators]]
id = "admin"
name = "Support team"        # shown to customers ("Support team joined the conversation."): put your name
telegram_user = "${OPERATOR_TELEGRAM_USER}"         # your numeric Telegram user id, to work in the desk group
# slack_user = "U0123456789"                        # your Slack member ID, to work in the Slack desk
lines = ["*"]                # every line
admin = true                 # may change automatic starts
"""

STARTER_ENV = """\
# linedesk environment, written by `linedesk init`. Keep this file private: it holds your bot's token.
# Variables set in the real environment win over this file.
#
# Fill in the three values below: remove the "# " at the start of the line and write the value
# after "=", without quotes. Until then `linedesk check-config` names each one as "not set".

# 1. The Telegram bot of the "support" line: in Telegram, talk to @BotFather, send /newbot, and
#    paste the token it gives you (it looks like 123456789:AAH...).
# SUPPORT_BOT_TOKEN=

# 2. The Telegram desk: a group with Topics turned on and your bot in it as an admin allowed to
#    manage topics. Its chat id starts with -100 (README "Telegram bot setup": how to find it).
# SUPPORT_DESK_CHAT=

# 3. Your own numeric Telegram user id, so that you can work sessions in the desk group
#    (README "Telegram bot setup": how to find it).
# OPERATOR_TELEGRAM_USER=

# Generated for you: the secret Telegram sends back with every webhook call (used when
# server.public_url is set; 1-256 characters of A-Z a-z 0-9 _ -).
SUPPORT_BOT_SECRET={webhook_secret}

# Generated for you: the bearer token of the admin HTTP API (/api/...). Empty turns the API off.
LINEDESK_ADMIN_TOKEN={admin_token}

# A Slack desk (optional, README "Slack app setup"), read by the [slack] section of linedesk.toml;
# SLACK_APP_TOKEN only for Socket Mode:
# SLACK_BOT_TOKEN=xoxb-...
# SLACK_SIGNING_SECRET=...
# SLACK_APP_TOKEN=xapp-...

# Logs as text (default) or json:
# LINEDESK_LOG_FORMAT=json
"""


class InitError(Exception):
    """The folder cannot be initialised; the message says why and what to do."""


@dataclass(frozen=True)
class Written:
    path: PurePosixPath
    """Relative to the folder."""
    overwritten: bool


def starter_files(processes: Path) -> list[tuple[PurePosixPath, bytes, int]]:
    """(relative path, content, mode) of every file `init` writes."""
    env = STARTER_ENV.format(webhook_secret=secrets.token_urlsafe(32), admin_token=secrets.token_urlsafe(32))
    files = [
        (PurePosixPath(CONFIG_NAME), STARTER_CONFIG.encode(), 0o644),
        (PurePosixPath(ENV_NAME), env.encode(), 0o600),
    ]
    for source in sorted(processes.rglob("*.bpmn"), key=lambda f: (len(f.relative_to(processes).parts), f)):
        relative = PurePosixPath(PROCESSES_NAME, *source.relative_to(processes).parts)
        files.append((relative, source.read_bytes(), 0o644))
    return files


def init_folder(target: Path, processes: Path, *, force: bool = False) -> list[Written]:
    """Write the starter files into `target` (created if missing). Without `force`, a folder that is
    not empty is refused and no file is overwritten; with it, existing files are replaced."""
    if target.exists() and not target.is_dir():
        raise InitError(f"{target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise InitError(
            f"{target} is not empty: give a new folder (linedesk init mydesk), "
            "or --force to write into this one (files with the same names are replaced)"
        )
    files = starter_files(processes)
    if not any(path.parts[0] == PROCESSES_NAME for path, _, _ in files):
        raise InitError(f"no example processes found in {processes}")
    for path, _, _ in files:  # check everything before writing anything
        for depth in range(1, len(path.parts)):
            folder = target.joinpath(*path.parts[:depth])
            if folder.exists() and not folder.is_dir():
                raise InitError(f"{folder} exists and is not a folder")
        existing = target.joinpath(*path.parts)
        if existing.exists() and not existing.is_file():
            raise InitError(f"{existing} exists and is not a file")
    written = []
    for path, content, mode in files:
        destination = target.joinpath(*path.parts)
        existed = destination.exists()
        if existed and not force:  # the folder was empty: only a race gets here
            raise InitError(f"{destination} exists; not overwritten (use --force)")
        destination.parent.mkdir(parents=True, exist_ok=True)
        _write(destination, content, mode)
        written.append(Written(path, existed))
    return written


def _write(destination: Path, content: bytes, mode: int) -> None:
    """A new file gets `mode` (within the umask). A private file (no bits for others) gets exactly `mode`
    before anything is written, also when it existed: a secret is never readable by others, not for a moment."""
    fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        if not mode & 0o077:
            if hasattr(os, "fchmod"):
                os.fchmod(out.fileno(), mode)
            else:  # Windows: no POSIX modes to speak of
                destination.chmod(mode)
        out.write(content)


def report(target: Path, given: str, written: list[Written]) -> str:
    """What was written and the next steps, for the terminal."""
    shown = shlex.quote(given)
    config = CONFIG_NAME if given in (".", "") else f"{given.rstrip('/')}/{CONFIG_NAME}"
    env = ENV_NAME if given in (".", "") else f"{given.rstrip('/')}/{ENV_NAME}"
    rows = [f"Created a linedesk folder in {target.resolve()}:"]
    notes = {
        PurePosixPath(CONFIG_NAME): "the config: line “support” (Telegram bot, long polling), a Telegram desk, SQLite",
        PurePosixPath(ENV_NAME): "tokens and ids (private, mode 600): three values to fill in",
    }
    for item in written:
        note = notes.get(item.path, "example process")
        rows.append(f"  {item.path!s:<40} {note}{'  (replaced)' if item.overwritten else ''}")
    cd = "" if given in (".", "") else f"cd {shown} && "
    rows += [
        "",
        "Next steps (README.md, “Quick start” and “Telegram bot setup”, has the details):",
        f"  1. Create the bot: in Telegram, @BotFather → /newbot. Put its token in {env} (SUPPORT_BOT_TOKEN).",
        "  2. Create the desk: a Telegram group, Topics on, your bot added as an admin with “Manage topics”.",
        f"     Put the group's id (-100…) and your own Telegram user id in {env}",
        "     (SUPPORT_DESK_CHAT, OPERATOR_TELEGRAM_USER).",
        f"  3. Check:  {cd}linedesk check-config     (it names every value still missing)",
        f"  4. Run:    {cd}linedesk serve            then write to your bot in Telegram.",
        f"A Slack desk instead or as well: README “Slack app setup”, then the [slack] lines in {config}.",
    ]
    return "\n".join(rows)
