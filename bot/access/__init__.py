"""Who may do what, and how often: coordinator accounts, inbox sessions, throttles, client
addresses."""
