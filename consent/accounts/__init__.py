"""Who may sign in or call: console operators and their roles, auditors, API keys, console sessions."""
