"""linedesk configuration: the TOML file of SPEC §4 and the environment of SPEC §3.

`load_config()` reads the file, the `.env` next to it and the process environment,
replaces `${NAME}` placeholders, applies the environment overrides and validates
everything. Every problem found (pydantic's and the config rules') is collected into
one `ConfigError`, each with the file, a best-effort line number and the dotted key,
so that `linedesk check-config` can print them all at once.

Secrets (bot tokens, signing secrets, the admin token) are plain `str` attributes for
the code that needs them, but are left out of `repr()`/`str()` and `model_dump()`.

The parts: `schema` (the pydantic models), `rules` (cross-field rules), `loader`
(`load_config`, `resolve_config_path`), `environment` (`.env`, `${NAME}`, overrides),
`locate` (TOML line numbers for problems), `durations`, `values` (single-value checks)
and `errors` (`ConfigProblem`, `ConfigError`, key paths).
"""

from core.config.durations import Duration as Duration
from core.config.durations import parse_duration
from core.config.environment import ENV_ADMIN_TOKEN, ENV_CONFIG, ENV_LOG_FORMAT
from core.config.errors import ConfigError, ConfigProblem, format_key
from core.config.errors import KeyPath as KeyPath
from core.config.loader import DEFAULT_CONFIG_PATH, load_config, load_config_text, resolve_config_path
from core.config.rules import check_rules
from core.config.schema import (
    AutostartEvent,
    AutostartRuleConfig,
    Config,
    LineConfig,
    OperatorConfig,
    ProcessesConfig,
    ServerConfig,
    SlackConfig,
    StoreConfig,
    TelegramConfig,
)
from core.config.schema import DeliveryConfig as DeliveryConfig
from core.config.values import Int as Int
from core.config.values import redact_url

__all__ = (
    "DEFAULT_CONFIG_PATH",
    "ENV_ADMIN_TOKEN",
    "ENV_CONFIG",
    "ENV_LOG_FORMAT",
    "AutostartEvent",
    "AutostartRuleConfig",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "LineConfig",
    "OperatorConfig",
    "ProcessesConfig",
    "ServerConfig",
    "SlackConfig",
    "StoreConfig",
    "TelegramConfig",
    "check_rules",
    "format_key",
    "load_config",
    "load_config_text",
    "parse_duration",
    "redact_url",
    "resolve_config_path",
)
