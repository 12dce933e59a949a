"""Bot API request parameters: read from query, form, multipart or JSON bodies and typed by name."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final, Literal

from aiohttp import (
    BodyPartReader,
    MultipartReader,
    hdrs,
    web,
)
from aiohttp.multipart import MultipartResponseWrapper

from .records import _MISSING_MESSAGES, JSON, UPLOAD_LIMIT, ApiError, Upload, _bad

ParamKind = Literal["int", "float", "bool", "str", "chat", "json", "file"]

# How each Bot API parameter is typed on the wire. Form bodies carry strings only, and aiogram sends
# strings raw but every other scalar JSON-encoded, so coercion must go by parameter name, never by
# the look of the value (text="123" stays a string). Unknown parameters are kept as given.
_PARAM_KINDS: Final[Mapping[str, ParamKind]] = MappingProxyType(
    {
        **dict.fromkeys(
            (
                "cache_time direct_messages_topic_id duration heading height icon_color limit "
                "live_period max_connections message_id message_thread_id offset "
                "proximity_alert_radius start_timestamp timeout user_id video_start_timestamp "
                "width reply_to_message_id"
            ).split(),
            "int",
        ),
        **dict.fromkeys(("horizontal_accuracy", "latitude", "longitude"), "float"),
        **dict.fromkeys(
            (
                "allow_paid_broadcast disable_content_type_detection disable_notification "
                "drop_pending_updates has_spoiler protect_content show_alert "
                "show_caption_above_media supports_streaming allow_sending_without_reply "
                "disable_web_page_preview remove_caption"
            ).split(),
            "bool",
        ),
        **dict.fromkeys(("chat_id", "from_chat_id"), "chat"),
        **dict.fromkeys(
            (
                "allowed_updates caption_entities commands entities link_preview_options media message_ids "
                "reply_markup reply_parameters scope suggested_post_parameters rich_message"
            ).split(),
            "json",
        ),
        **dict.fromkeys(
            ("certificate", "cover", "document", "photo", "sticker", "thumbnail", "video", "voice"),
            "file",
        ),
        **dict.fromkeys(
            (
                "action business_connection_id callback_query_id caption emoji file_id first_name "
                "icon_custom_emoji_id inline_message_id ip_address language_code last_name "
                "message_effect_id name parse_mode phone_number secret_token text url vcard"
            ).split(),
            "str",
        ),
    }
)
# --------------------------------------------------------------------------------------------------
# Request parameters
# --------------------------------------------------------------------------------------------------


def _coerce(name: str, value: Any, uploads: Mapping[str, Upload]) -> Any:
    kind = _PARAM_KINDS.get(name)
    try:
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError
            return value if isinstance(value, int) else int(str(value).strip())
        if kind == "float":
            return float(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "1"):
                return True
            if text in ("false", "0"):
                return False
            raise ValueError
        if kind == "chat":
            text = str(value).strip()
            return int(text) if re.fullmatch(r"-?\d+", text) else text
        if kind == "json":
            decoded = json.loads(value) if isinstance(value, str | bytes) else value
            return _attached(decoded, uploads) if name == "media" else decoded
        if kind == "file":
            if isinstance(value, str) and value.startswith("attach://"):
                upload = uploads.get(value.removeprefix("attach://"))
                if upload is None:
                    raise _bad(f"file for {name} not found in the request")
                return upload
            return value
        if kind == "str" and not isinstance(value, str):
            return json.dumps(value) if isinstance(value, dict | list) else str(value)
        return value
    except (ValueError, TypeError):
        if kind == "json":
            raise _bad(f"can't parse {name} JSON object") from None
        raise _bad(f"invalid {name} specified") from None


class Attached(str):
    """An album item's "attach://<name>" as it was sent (what the call records), with the uploaded part it names."""

    upload: Upload

    def __new__(cls, text: str, upload: Upload) -> Attached:
        attached = super().__new__(cls, text)
        attached.upload = upload
        return attached


def _attached(media: Any, uploads: Mapping[str, Upload]) -> Any:
    """An album's items, each "attach://<name>" that names an uploaded part carrying it (`Attached`); one that
    names none stays a plain string, which the method refuses as media it cannot find."""
    if not isinstance(media, list):
        return media
    items = []
    for item in media:
        if isinstance(item, dict):
            item = {
                key: _attach(value, uploads) if key in ("media", "thumbnail") else value for key, value in item.items()
            }
        items.append(item)
    return items


def _attach(value: Any, uploads: Mapping[str, Upload]) -> Any:
    if isinstance(value, str) and value.startswith("attach://"):
        upload = uploads.get(value.removeprefix("attach://"))
        return Attached(value, upload) if upload is not None else value
    return value


def coerce_params(raw: Mapping[str, Any], uploads: Mapping[str, Upload] | None = None) -> JSON:
    """Type raw request values by parameter name; empty values count as absent."""
    uploads = uploads or {}
    params: JSON = {}
    for name, value in raw.items():
        if value is None or value == "":
            continue
        params[name] = _coerce(name, value, uploads)
    for name, upload in uploads.items():  # files uploaded directly under the parameter's own name
        if _PARAM_KINDS.get(name) == "file" and name not in params:
            params[name] = upload
    return params


async def read_params(request: web.BaseRequest) -> JSON:
    """Merge the query string and the body (JSON, urlencoded or multipart) into typed params."""
    raw: JSON = dict(request.query)
    uploads: dict[str, Upload] = {}
    if request.body_exists:
        if request.content_length is not None and request.content_length > UPLOAD_LIMIT + 65536:
            raise ApiError(413, "Request Entity Too Large")
        ctype = request.content_type
        if ctype == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise _bad("can't parse JSON request body") from None
            if not isinstance(body, dict):
                raise _bad("JSON request body must be an object")
            raw.update(body)
        elif ctype == "multipart/form-data":
            await read_parts(await request.multipart(), raw, uploads)
        elif ctype == "application/x-www-form-urlencoded":
            raw.update(await request.post())
    return coerce_params(raw, uploads)


async def read_parts(reader: MultipartReader | MultipartResponseWrapper, raw: JSON, uploads: dict[str, Upload]) -> None:
    """Multipart fields into ``raw`` (text) and ``uploads`` (parts with a filename)."""
    total = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        data = await part.read(decode=True)
        total += len(data)
        if total > UPLOAD_LIMIT:
            raise ApiError(413, "Request Entity Too Large")
        if part.filename is None:
            raw[part.name] = data.decode(part.get_charset("utf-8"))
        else:
            uploads[part.name] = Upload(part.filename, part.headers.get(hdrs.CONTENT_TYPE), data)


class Params:
    """Typed access to one request's (already coerced) parameters."""

    __slots__ = ("values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def require(self, names: Iterable[str]) -> None:
        for name in names:
            if self.values.get(name) is None:
                raise _bad(_MISSING_MESSAGES.get(name, f"{name} is empty"))

    def has(self, name: str) -> bool:
        return self.values.get(name) is not None

    def req_int(self, name: str) -> int:
        value = self.opt_int(name)
        if value is None:
            raise _bad(_MISSING_MESSAGES.get(name, f"{name} is empty"))
        return value

    def opt_int(self, name: str) -> int | None:
        value = self.values.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise _bad(f"invalid {name} specified")
        return value

    def req_str(self, name: str) -> str:
        value = self.opt_str(name)
        if value is None:
            raise _bad(_MISSING_MESSAGES.get(name, f"{name} is empty"))
        return value

    def opt_str(self, name: str) -> str | None:
        value = self.values.get(name)
        return None if value is None else str(value)

    def req_float(self, name: str) -> float:
        value = self.values.get(name)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _bad(f"{name} is empty" if value is None else f"invalid {name} specified")
        return float(value)

    def flag(self, name: str) -> bool:
        return bool(self.values.get(name) or False)

    def opt_obj(self, name: str) -> JSON | None:
        value = self.values.get(name)
        if value is not None and not isinstance(value, dict):
            raise _bad(f"can't parse {name} JSON object")
        return value

    def opt_list(self, name: str) -> list[Any] | None:
        value = self.values.get(name)
        if value is not None and not isinstance(value, list):
            raise _bad(f"can't parse {name} JSON object")
        return value

    def chat_ref(self, name: str = "chat_id") -> int | str:
        value = self.values.get(name)
        if value is None:
            raise _bad(f"{name} is empty")
        if not isinstance(value, int | str) or isinstance(value, bool):
            raise _bad("chat not found")
        return value
