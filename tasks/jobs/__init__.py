"""Built-in handlers of the meal planner's jobs, imported by worker and beat."""

from __future__ import annotations
