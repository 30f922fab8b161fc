"""Authentication context classes the device pages can satisfy."""

from __future__ import annotations

PASSWORD = "pwd"
ACR_VALUES_SUPPORTED = (PASSWORD,)
