"""Local fakes of the platforms linedesk talks to, for the tests, the demo and the benchmarks.

``sandboxes.telegram`` (a Telegram Bot API) and ``sandboxes.slack`` (a Slack Web API, its signed requests
and Socket Mode) are aiohttp servers that import nothing of linedesk: they are the other side, not the
product. ``sandboxes.rig`` is the stage they are used on: linedesk with both sandboxes, in one process.
"""
