"""The outbox's protocol: what an entry asks its deliverer to do, one model per action.

Desk actions (routes "<desk>.desk") name the session and its line; client actions (routes "<channel>.client")
also name the client and the chat they are reached in. Every action is tagged by `kind`, so a stored entry
reads back as the model it was written as (`OutboxAction`, a discriminated union) and a deliverer `match`es
on the models: mypy sees every field a deliverer reads.

`DeskAction` and `ClientAction` are the two halves: the courier builds desk entries only from desk actions and
client entries only from client actions. `UnknownAction` is no action of the code's: it keeps what the
migration from the untyped entries (`from_legacy`) could not read, so that its deliverer kills it as an
unknown action, as before.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from core.errors import DeliveryError
from core.record import Attachment, AuthorKind, cleaned, without_lone_surrogates


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_lone_surrogates(cls, value: Any, info: ValidationInfo) -> Any:
        """As `Record`'s: half of a UTF-16 pair becomes U+FFFD (here in nested values too)."""
        return value if cleaned(info) else without_lone_surrogates(value)


class ToDesk(Action):
    """What every desk action carries: the session whose thread/topic it goes to, and its line."""

    session: int
    line_id: str


class OpenSession(ToDesk):
    """A new session: open its thread/topic with its card."""

    kind: Literal["open_session"] = "open_session"


class RefreshCard(ToDesk):
    """The session changed (taken, closed, spam …): its card is drawn again."""

    kind: Literal["refresh_card"] = "refresh_card"


class Mirror(ToDesk):
    """A session message shown on a desk (an album's first message shows the whole album)."""

    kind: Literal["mirror"] = "mirror"
    message_id: int
    author_kind: AuthorKind
    author_name: str = ""
    text: str = ""
    internal: bool = False
    source_ref: str | None = None
    """The platform's id of the message: the Telegram desk copies the line bot's own messages as they are."""
    media_group: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    sent_at: float = 0.0
    """When it was written (shown beside each message of a merged post; 0: an entry stored before it was kept)."""


class Edit(ToDesk):
    """A mirrored message was edited: its desk copy is edited (or the edit is told)."""

    kind: Literal["edit"] = "edit"
    message_id: int
    text: str
    author_name: str = ""


class Mention(Action):
    """An operator a notice calls on: each desk mentions them its own way (Slack `<@U…>`, a Telegram
    text mention)."""

    name: str
    slack_user: str = ""
    telegram_user: int | None = None


class Notice(ToDesk):
    """A line of the system's in the session's thread/topic."""

    kind: Literal["notice"] = "notice"
    text: str
    aside: bool = False
    """The record of a card action (take, transfer, close): the card shows it at once, so the notice may wait
    for a free send of the desk's bucket or go with the session's next post (`Draw.patient`)."""
    mentions: list[Mention] = Field(default_factory=list)
    """Operators called on after the text (a notice with mentions is posted alone, never merged)."""


class TaskCard(ToDesk):
    """A user task waiting in the session: for whom, and the button that opens its form."""

    kind: Literal["task_card"] = "task_card"
    instance_id: str
    task: str
    process: str
    assignee_name: str | None = None
    """None: any online operator of the line may take it (or one of `candidates`)."""
    candidates: list[str] = Field(default_factory=list)
    """Names of the operators who may take it (empty: anyone of the line)."""
    note: str | None = None
    """Why it went to whom it went (an assignee nobody here knows, …)."""


class StatusCard(ToDesk):
    """A process's status line in the session's thread/topic, edited in place."""

    kind: Literal["status_card"] = "status_card"
    instance_id: str
    process: str
    text: str


class ToClient(Action):
    """What every client action carries: the session, and where the client is reached."""

    session: int
    line_id: str
    client_id: str
    chat_id: str
    """The Telegram private chat id, or the Slack DM channel id."""


class CopyFrom(Action):
    """An operator's Telegram message (with files) the line bot copies to the client as it is."""

    chat_id: int
    message_id: int


class SendText(ToClient):
    """A message (text, files) to the client: an operator's is signed with their name."""

    kind: Literal["send_text"] = "send_text"
    text: str
    message_id: int | None = None
    """The session message it is, when there is one: its edits and deletion reach the client's copy."""
    author_kind: AuthorKind = AuthorKind.OPERATOR
    author_name: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    copy_from: CopyFrom | None = None


class EditText(ToClient):
    """An operator edited a message the client got: their copy is edited."""

    kind: Literal["edit_text"] = "edit_text"
    message_id: int
    text: str
    author_kind: AuthorKind = AuthorKind.OPERATOR
    author_name: str = ""


class DeleteText(ToClient):
    """An operator deleted a message the client got: their copy is deleted."""

    kind: Literal["delete_text"] = "delete_text"
    message_id: int


class ClientStatusCard(ToClient):
    """A process's status card in the client's chat, edited in place."""

    kind: Literal["client_status_card"] = "client_status_card"
    instance_id: str
    text: str


class AskQuestion(ToClient):
    """A process's question (`linedesk.ask`): the text with a button per choice; a button carries the ask's id
    and the choice's index."""

    kind: Literal["ask_question"] = "ask_question"
    message_id: int
    ask_id: str
    text: str
    choices: list[str] = Field(default_factory=list)


class AskAnswered(ToClient):
    """The client answered a question: it is edited to show the answer, its buttons removed."""

    kind: Literal["ask_answered"] = "ask_answered"
    message_id: int
    text: str


class AskRating(ToClient):
    """After close (SPEC §14): "How did we do?" with one button per score, 1–5, for the session."""

    kind: Literal["ask_rating"] = "ask_rating"
    text: str


class UnknownAction(Action):
    """An entry of the untyped outbox that the migration could not read as any action (never written by this
    code): kept for the record; its deliverer kills it."""

    kind: Literal["unknown"] = "unknown"
    action: str
    payload: dict[str, Any] = Field(default_factory=dict)
    problem: str = ""
    session: int | None = None


DeskAction = OpenSession | RefreshCard | Mirror | Edit | Notice | TaskCard | StatusCard
ClientAction = SendText | EditText | DeleteText | ClientStatusCard | AskQuestion | AskAnswered | AskRating
OutboxAction = Annotated[DeskAction | ClientAction | UnknownAction, Field(discriminator="kind")]


def unknown_action(action: DeskAction | ClientAction | UnknownAction, side: str) -> DeliveryError:
    """What a deliverer raises for an action that is not its own (`side`: "desk" or "client")."""
    name = action.action if isinstance(action, UnknownAction) else action.kind
    return DeliveryError(f"unknown {side} action {name!r}", permanent=True)


# --- the untyped entries of earlier versions --------------------------------------------------------------
_LEGACY_DESK: dict[str, type[ToDesk]] = {
    m.model_fields["kind"].default: m for m in (OpenSession, RefreshCard, Mirror, Edit, Notice, TaskCard, StatusCard)
}
_LEGACY_CLIENT: dict[str, type[ToClient]] = {
    "send_text": SendText,
    "edit_text": EditText,
    "delete_text": DeleteText,
    "status_card": ClientStatusCard,
}


def from_legacy(route: str, action: str, payload: dict[str, Any]) -> DeskAction | ClientAction | UnknownAction:
    """The typed action of an entry stored as an `action` name and a `payload` dict (schema before the typed
    outbox). "status_card" was both a desk's and a client's action: the route tells which. The payload's
    "kind" of a client message was its author's kind. Keys no deliverer read are left behind."""
    tables: list[dict[str, Any]] = [_LEGACY_CLIENT, _LEGACY_DESK]
    if not route.endswith(".client"):
        tables.reverse()
    model = next((table[action] for table in tables if action in table), None)
    session = payload.get("session")
    keep_session = session if isinstance(session, int) and not isinstance(session, bool) else None
    if model is None:
        return UnknownAction(action=action, payload=payload, problem="no such action", session=keep_session)
    fields = dict(payload)
    if issubclass(model, ToClient):
        fields.pop("author_kind", None)
        if "kind" in fields:
            fields["author_kind"] = fields.pop("kind")
    fields.pop("kind", None)
    try:
        return model.model_validate({k: v for k, v in fields.items() if k in model.model_fields})
    except ValidationError as err:
        problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        return UnknownAction(action=action, payload=payload, problem=problem, session=keep_session)
