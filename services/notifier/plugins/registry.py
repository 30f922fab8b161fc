"""Finding notification plugins by name: the built-ins, then entry points in the group
``ciba.notifiers`` (a package adds one with ``[project.entry-points."ciba.notifiers"]``)."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from services.notifier.plugins.apns import ApnsNotifier
from services.notifier.plugins.base import Notifier
from services.notifier.plugins.email import EmailNotifier
from services.notifier.plugins.fcm import FcmNotifier
from services.notifier.plugins.log import LogNotifier
from services.notifier.plugins.webhook import WebhookNotifier
from shared.logging import get_logger

ENTRY_POINT_GROUP = "ciba.notifiers"
BUILT_IN: dict[str, Callable[[], Notifier]] = {"log": LogNotifier, "webhook": WebhookNotifier, "fcm": FcmNotifier,
                                               "email": EmailNotifier, "apns": ApnsNotifier}

log = get_logger("ciba.notification")


class UnknownNotifier(LookupError):
    pass


class NotifierRegistry:
    def __init__(self) -> None:
        self._loaded: dict[str, Notifier] = {}

    def get(self, name: str) -> Notifier:
        if name not in self._loaded:
            self._loaded[name] = self._load(name)
        return self._loaded[name]

    @staticmethod
    def _load(name: str) -> Notifier:
        if name in BUILT_IN:
            return BUILT_IN[name]()
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            if entry.name == name:
                plugin = entry.load()
                log.info("notifier_plugin_loaded", notifier=name, source=entry.value)
                loaded: Notifier = plugin() if isinstance(plugin, type) else plugin
                return loaded
        raise UnknownNotifier(f"no notification plugin named {name!r}")
