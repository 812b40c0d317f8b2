"""Slash-command cogs: /video, /quota, /jobs and /sora-admin."""
