"""Rules: credits, guild policy and its audited admin changes, terms, validation, usage reports."""
