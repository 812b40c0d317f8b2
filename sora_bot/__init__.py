"""Core of the Sora-2 video bot: provider client, job store, credits and worker (no Discord)."""
