"""A local, in-process emulator of Slack for the test suite, the demo and benchmarks.

It plays both sides the product talks to:

* the **Web API** (``/api/{method}``) that ``slack_sdk``'s ``AsyncWebClient`` calls when
  pointed at :attr:`SlackSandbox.api_url`: it keeps state (users, channels, messages,
  threads, ephemerals, modals, App Home tabs, files), records every call and can be told
  to fail (``ok: false`` errors, 429 with ``Retry-After``, 5xx, hangs);
* the **Slack side** that sends signed requests to the product: slash commands,
  block actions, view submissions, message shortcuts and Events API callbacks, built
  after the real payloads kept in ``shared/reference/slack``, with trigger ids and
  response URLs that this sandbox issued and later checks;
* **Socket Mode** (:class:`SlackSocketMode`, reachable as :attr:`SlackSandbox.socket`):
  ``apps.connections.open`` with the app-level token hands out a one-time
  ``ws://…/socket/<ticket>`` URL; over that websocket the same payloads travel as
  envelopes, and the product's acks carry what an HTTP response body would.

Behaviour follows Slack where a product could get it wrong: trigger ids expire after
``trigger_ttl`` seconds and are single-use, bots may only edit their own messages, the
ack body of a block action is ignored (only slash-command acks are shown to the user),
``url_private`` needs the bot token, a ``thread_ts`` that matches no message is
accepted and the reply is seen in no thread.

Only aiohttp and the standard library: the sandbox must not share code with the product
it is used to test.

Modules: ``records`` (calls, identities, users, channels, files, views, failures; Slack's limits),
``helpers`` (request parameters, ids, Block Kit checks), ``state`` (:class:`SlackWorkspace`), ``routes`` (the Web
API methods), ``payloads`` (:class:`SlackPayloads`: what Slack sends the product), ``socket_mode``
(:class:`SlackSocketMode`), ``server`` (:class:`SlackSandbox`: HTTP both ways, recording, failure injection).
"""

from .payloads import SlackPayloads
from .records import (
    ACTIONS_ELEMENT_LIMIT,
    FORM,
    JSON,
    JSON_CONTENT,
    MESSAGE_BLOCK_LIMIT,
    MODAL_STACK_LIMIT,
    RESPONSE_URL_USES,
    TEXT_LIMIT,
    VIEW_BLOCK_LIMIT,
    VIEW_TITLE_LIMIT,
    SlackCall,
    SlackChannel,
    SlackFile,
    SlackIdentity,
    SlackResponse,
    SlackUser,
    SlackView,
    slack_signature,
)
from .server import SlackSandbox
from .socket_mode import SOCKET_ACK_TIMEOUT, SOCKET_TICKET_TTL, SlackSocketMode, SocketAck
from .state import SlackWorkspace

__all__ = [
    "ACTIONS_ELEMENT_LIMIT",
    "FORM",
    "JSON",
    "JSON_CONTENT",
    "MESSAGE_BLOCK_LIMIT",
    "MODAL_STACK_LIMIT",
    "RESPONSE_URL_USES",
    "SOCKET_ACK_TIMEOUT",
    "SOCKET_TICKET_TTL",
    "TEXT_LIMIT",
    "VIEW_BLOCK_LIMIT",
    "VIEW_TITLE_LIMIT",
    "SlackCall",
    "SlackChannel",
    "SlackFile",
    "SlackIdentity",
    "SlackPayloads",
    "SlackResponse",
    "SlackSandbox",
    "SlackSocketMode",
    "SlackUser",
    "SlackView",
    "SlackWorkspace",
    "SocketAck",
    "slack_signature",
]
