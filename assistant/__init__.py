"""Self-hosted multimodal chat assistant backend."""

import os

__version__ = "0.1.0"

# Nothing on a default path may reach a model hub or phone home: set before any library that
# reads these variables at import time (huggingface_hub, transformers, chromadb) is imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
