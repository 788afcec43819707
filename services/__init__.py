"""Use cases: the domain rules put to work with storage and the room calendars."""
