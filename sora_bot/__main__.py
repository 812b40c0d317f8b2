"""``python -m sora_bot``: the core without Discord (generate, doctor)."""

from __future__ import annotations

import sys

from sora_bot.cli import main

sys.exit(main())
