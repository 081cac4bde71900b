"""The model-name rule, one for the registry, model specs, pipelines and results.

A model name becomes part of Prefect flow and deployment names, CLI arguments and file
paths, so it stays plain; its length is the registry's column (``lume_models.name``).
"""

from __future__ import annotations

MODEL_NAME_LENGTH = 100
MODEL_NAME_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{MODEL_NAME_LENGTH - 1}}}$"
MODEL_NAME_RULE = f"use 1-{MODEL_NAME_LENGTH} letters, digits, '.', '_' or '-', starting with a letter or digit"
