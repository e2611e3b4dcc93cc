"""Name → a Transform, or `factory(spec: ConditionSpec) -> Transform`; usable as a condition name (none built in:
baseline, heart and the stimulus families are the condition grammar's own words)."""

from __future__ import annotations

from typing import Any

from emoprompt.registration import Registry

transforms: Registry[Any] = Registry("transform", dict, hint="Register it with emoprompt.register_transform.")
