"""Chat models behind one factory."""

from assistant.llm.factory import make_chat_model, model_id

__all__ = ["make_chat_model", "model_id"]
