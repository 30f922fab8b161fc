"""``log``: writes the authorization URL to the notification log. For development, and for
deployments where another system tails that log; the default plugin."""

from __future__ import annotations

from services.notifier.plugins.base import NotificationContext, NotificationResult


class LogNotifier:
    name = "log"

    async def notify(self, ctx: NotificationContext) -> NotificationResult:
        ctx.log.info(
            "end_user_notification",
            notification_id=ctx.notification_id,
            username=ctx.user.username,
            client_name=ctx.client_name,
            binding_message=ctx.binding_message,
            authorization_url=ctx.authorization_url,
        )
        return NotificationResult.sent("logged")
