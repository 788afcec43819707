"""RoomBot's benchmark: `python -m bench` (see README, "Performance")."""
