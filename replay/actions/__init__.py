"""Actions: ``generic`` (an HTTP route filled from the store) and ``pack`` (Python functions a user names)."""
