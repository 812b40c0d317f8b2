"""Discord rendering: embeds and lines for jobs, status and admin answers."""
