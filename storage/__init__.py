"""Persistence: one repository over pluggable document backends, and bot state storage."""

from storage.backends import Backend, MemoryBackend, TinyDbBackend
from storage.repository import Repository

__all__ = ["Backend", "MemoryBackend", "Repository", "TinyDbBackend"]
