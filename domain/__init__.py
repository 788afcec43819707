"""RoomBot's domain core: plain dataclasses and functions, no Bot Framework, no HTTP."""
