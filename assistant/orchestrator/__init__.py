"""Retrieve → build prompt → generate, as LangChain runnables."""

from assistant.orchestrator.core import Orchestrator
from assistant.orchestrator.types import Answer, ChatInput, ChatTurn, Citation, Finding, Usage

__all__ = ["Answer", "ChatInput", "ChatTurn", "Citation", "Finding", "Orchestrator", "Usage"]
