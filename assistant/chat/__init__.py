"""The chat use case: one service for the API route, chat jobs and both bots."""
