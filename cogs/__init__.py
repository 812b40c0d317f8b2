"""The Discord layer: slash-command cogs and the adapter that posts job outcomes."""

EXTENSIONS = ("cogs.video", "cogs.admin")
