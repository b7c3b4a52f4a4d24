"""The two pseudo-states of every class's Markov chain over actions: where a session starts and ends."""

START = "(start)"
EXIT = "(exit)"
