"""`/report [line] [7d]` in Slack (SPEC §15): for admins and the line's operators, an ephemeral summary with
a PNG chart (sessions per day beside the response times), and the summary blocks the App Home shows admins.

The chart is uploaded without sharing it anywhere (`files_upload_v2` with no channel) and shown in the
ephemeral answer as an image block (`slack_file`): only the person who asked sees it.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import mrkdwn
from adapters.slack.tracking import REQUIRED, SlackListeners, in_ack
from core.clock import Clock
from core.config import Config, OperatorConfig
from core.errors import Refusal
from core.reports import Period, Report, ReportError, build_report, measure_for, parse_period
from core.reports.charts import slack_png
from core.reports.text import period_line, summary
from core.store.base import Store

log = logging.getLogger(__name__)

Block = dict[str, Any]
COMMAND = "/report"
USAGE = "Use `/report [line] [7d|30d|2026-11-01]`: a line's report over the last 7 days, or since that date."


class SlackReports:
    def __init__(self, listeners: SlackListeners, *, store: Store, config: Config, clock: Clock):
        self._store = store
        self._config = config
        self._clock = clock
        listeners.on(listeners.app.command, COMMAND, self.on_command, in_ack("No report: "), REQUIRED)

    async def on_command(
        self,
        ack: AsyncAck,
        command: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
        operator: OperatorConfig,
    ) -> None:
        now = self._clock.now()
        line_id, period = self._asked(operator, str(command.get("text") or ""), now)  # refused before the ack
        await ack()
        report = await self.report(line_id, period, now)
        blocks = summary_blocks(report)
        image = await self._upload(client, report)
        if image is not None:
            blocks.append(image)
        await respond(response_type="ephemeral", replace_original=False, text=period_line(report), blocks=blocks)

    async def report(self, line_id: str | None, period: Period, now: float) -> Report:
        return await build_report(self._store, line_id, period, now, measure_for(self._config))

    def _asked(self, operator: OperatorConfig, text: str, now: float) -> tuple[str | None, Period]:
        """The line and period of `/report [line] [since]`, or a Refusal naming what is wrong."""
        words = text.split()
        lines = [word for word in words if self._config.line(word) is not None]
        rest = [word for word in words if word not in lines]
        if len(lines) > 1 or len(rest) > 1:
            raise Refusal(USAGE, "usage")
        mine = [line.id for line in self._config.lines if operator.serves(line.id)]
        line_id = lines[0] if lines else None
        if line_id is None and not operator.admin:
            if len(mine) != 1:
                raise Refusal(f"name one of your lines: {', '.join(mine) or 'none'}. {USAGE}", "usage")
            line_id = mine[0]
        if line_id is not None and not operator.admin and line_id not in mine:
            raise Refusal(f"you are not an operator of the line {line_id!r}.", "not_allowed")
        try:
            return line_id, parse_period(rest[0] if rest else None, None, now)
        except ReportError as err:
            raise Refusal(f"{err}. {USAGE}", "usage") from None

    @staticmethod
    async def _upload(client: AsyncWebClient, report: Report) -> Block | None:
        """The chart as an image block, or None (logged) when Slack refuses the upload: the summary still goes."""
        name = f"report-{report.line or 'all'}-{report.since:%Y%m%d}.png"
        try:
            answer = await client.files_upload_v2(content=slack_png(report), filename=name, title=period_line(report))
        except SlackApiError as err:
            log.warning("the report chart was not uploaded: %s", err.response.get("error"))
            return None
        uploaded = answer.get("file") or (answer.get("files") or [{}])[0]
        file_id = str(uploaded.get("id") or "")
        if not file_id:
            return None
        return {
            "type": "image",
            "slack_file": {"id": file_id},
            "alt_text": "Sessions per day and response times",
            "title": {"type": "plain_text", "text": mrkdwn.cut(period_line(report), 2000)},
        }


def summary_blocks(report: Report) -> list[Block]:
    """The summary as a header and one section (also the App Home's "Last 7 days" for admins)."""
    text = "\n".join(f"• {mrkdwn.escape(line)}" for line in summary(report))
    return [
        {"type": "header", "text": {"type": "plain_text", "text": mrkdwn.cut(f"Report · {period_line(report)}", 150)}},
        {"type": "section", "block_id": "report", "text": {"type": "mrkdwn", "text": mrkdwn.cut(text, 3000)}},
    ]
