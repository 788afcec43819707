"""Multi-turn conversations as ComponentDialogs (booking arrives with the booking issue)."""
