"""POST /slack/events: the Slack Events API and slash commands, served by the bolt handler.

The route imports slack_bolt only when a request arrives, so the API runs without the ``bots``
extra. The bot is built once per app from ``SlackBotSettings`` (``ASSISTANT_SLACK_*``) unless
``services.slack_bot`` already holds one.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from assistant.api.deps import get_services
from assistant.bots.settings import SlackBotSettings
from assistant.errors import NotFound, ServiceUnavailable

router = APIRouter(tags=["bots"])


@router.post("/slack/events", include_in_schema=False)
async def slack_events(request: Request) -> Response:
    services = get_services(request)
    bot = services.slack_bot
    if bot is None:
        settings = SlackBotSettings()
        if not settings.configured:
            raise NotFound(
                "Slack is not configured: set ASSISTANT_SLACK_BOT_TOKEN and "
                "ASSISTANT_SLACK_SIGNING_SECRET"
            )
        try:  # slack_bolt is the optional 'bots' extra: imported on the first event only
            from assistant.bots.slack import SlackBot
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ServiceUnavailable(
                "the Slack bot needs the 'bots' extra: pip install 'assistant[bots]'"
            ) from exc
        bot = services.slack_bot = SlackBot(services, settings)
    response: Response = await bot.handler.handle(request)
    return response
