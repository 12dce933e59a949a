"""Operators' messages in a session's topic go to the client (`//` notes stay internal; a message that
answers an open form is the forms router's); an edit follows to the client's copy."""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.types import Message

from adapters.telegram.client import attachments_of
from adapters.telegram.desk.errors import REFUSED
from adapters.telegram.desk.middleware import Services, in_desk, not_another_lines
from adapters.telegram.filters import from_a_person, has_content, has_text, in_a_topic
from core.config import OperatorConfig
from core.courier import TELEGRAM_DESK
from core.errors import Refusal
from core.inbound import OperatorEdit, OperatorText
from core.model import Session


async def on_topic_text(
    message: Message, services: Services, line_id: str, session: Session | None, operator: OperatorConfig | None
) -> Any:
    if session is None:
        return None
    if operator is None:
        raise Refusal("You are not a linedesk operator: the client does not get this message.")
    attachments = attachments_of(message, line_id)
    await services.sessions.operator_text(
        OperatorText(
            session=session.number,
            operator_id=operator.id,
            text=message.text or message.caption or "",
            platform_ref=f"telegram:{message.chat.id}:{message.message_id}",
            desk=TELEGRAM_DESK,
            attachments=attachments,
            copy_from={"chat_id": message.chat.id, "message_id": message.message_id} if attachments else None,
        )
    )
    return None


async def on_topic_edit(message: Message, services: Services, operator: OperatorConfig | None) -> None:
    """An operator edited their message in a topic: the client's copy (and the Slack thread's) follow."""
    if operator is None:
        return
    await services.sessions.operator_edit(
        OperatorEdit(
            operator_id=operator.id,
            platform_ref=f"telegram:{message.chat.id}:{message.message_id}",
            text=message.text or message.caption or "",
            desk=TELEGRAM_DESK,
        )
    )


def build() -> Router:
    router = Router(name="telegram-desk-topics")
    router.message.register(
        on_topic_text,
        in_desk,
        in_a_topic,
        from_a_person,
        has_content,
        not_another_lines,
        flags={REFUSED: "Not sent to the client"},
    )
    router.edited_message.register(on_topic_edit, in_desk, in_a_topic, from_a_person, has_text)
    return router
