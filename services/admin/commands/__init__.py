"""The operator commands behind ciba-admin; each returns what is printed as JSON.

One module per noun: ``schema`` (db), ``config`` (config, feature), ``users`` (user, device),
``clients``, ``keys`` (keys, secrets), ``requests`` (request, token), ``events`` (dlq, outbox);
``common`` holds the error they raise and their database connection.
"""

from services.admin.commands.clients import (
    client_add,
    client_list,
    client_remove,
    client_rotate_secret,
    client_show,
    client_update,
)
from services.admin.commands.common import CONNECT_PATIENCE_SEC, CommandError
from services.admin.commands.config import config_get, config_set, config_unset, feature_disable, feature_enable
from services.admin.commands.events import dlq_list, dlq_purge, dlq_replay, outbox_list, outbox_retry
from services.admin.commands.keys import keys_list, keys_retire, keys_rotate, secrets_rekey
from services.admin.commands.requests import request_cancel, request_list, request_show, token_revoke
from services.admin.commands.schema import db_status, db_upgrade
from services.admin.commands.users import (
    device_list,
    device_remove,
    user_add,
    user_disable,
    user_enable,
    user_list,
    user_passwd,
    user_remove,
    user_set_code,
    user_set_totp,
    user_show,
)

__all__ = [
    "CONNECT_PATIENCE_SEC",
    "CommandError",
    "client_add",
    "client_list",
    "client_remove",
    "client_rotate_secret",
    "client_show",
    "client_update",
    "config_get",
    "config_set",
    "config_unset",
    "db_status",
    "db_upgrade",
    "device_list",
    "device_remove",
    "dlq_list",
    "dlq_purge",
    "dlq_replay",
    "feature_disable",
    "feature_enable",
    "keys_list",
    "keys_retire",
    "keys_rotate",
    "outbox_list",
    "outbox_retry",
    "request_cancel",
    "request_list",
    "request_show",
    "secrets_rekey",
    "token_revoke",
    "user_add",
    "user_disable",
    "user_enable",
    "user_list",
    "user_passwd",
    "user_remove",
    "user_set_code",
    "user_set_totp",
    "user_show",
]
