"""Slack and Discord adapters: thin translations of platform events into orchestrator calls.

Nothing here imports slack_bolt or discord.py at package import time; install the ``bots``
extra (``pip install -e '.[bots]'``) to run them.
"""
