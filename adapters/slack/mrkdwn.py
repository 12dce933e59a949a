"""Slack's mrkdwn, written once: how text that came from a person reaches Slack.

Client names and messages, operators' words, form values, process variables and refusal reasons are plain
text. In a mrkdwn field Slack reads `<…>` as a link or a mention (`<!channel>` notifies a whole channel) and
`&` as the start of an entity, so such text goes through `escape` before it is put into mrkdwn. `plain_text`
fields need no escaping; both kinds have length limits, which `cut` keeps to.
"""

from __future__ import annotations


def escape(text: str) -> str:
    """The three characters Slack asks apps to escape in mrkdwn: `&`, `<`, `>`."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """A message text from a Slack event as the person typed it (Slack escapes only `&`, `<` and `>`)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def cut(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
