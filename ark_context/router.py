"""Compatibility path: the router lives in :mod:`ark_context.routing`.

>>> from ark_context.router import ContextRouter
>>> ContextRouter is __import__("ark_context.routing", fromlist=["x"]).ContextRouter
True
"""

from .routing import AsyncRoutedStream, ContextRouter, RoutedStream

__all__ = ["AsyncRoutedStream", "ContextRouter", "RoutedStream"]
