"""The Discord layer: slash-command cogs and the adapter that posts job outcomes."""

EXTENSIONS = ("cogs.commands.video", "cogs.commands.admin", "cogs.buttons")
