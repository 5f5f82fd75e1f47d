"""Textual messages that carry engine events onto the app's message queue.

The engine calls the app's sink on the loop thread; the sink wraps each event in one of
these and posts it. Price messages replace an unprocessed message of the same kind, so a
burst of ticks costs one repaint (the idea of toolong's messages.py)."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class EngineMessage(Message, bubble=False):
    """One engine event for the app."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event


class ItemsArrived(EngineMessage):
    """feeds.model.NewItems"""


class FeedStatusChanged(EngineMessage):
    """feeds.model.FeedStatus"""


class PriceChanged(EngineMessage):
    """feeds.model.AggregatePrice: only the newest one matters."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PriceChanged)


class SourceTicked(EngineMessage):
    """feeds.model.PriceUpdate from one source: the newest per source matters."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SourceTicked) and message.event.source == self.event.source


class PriceHistoryLoaded(EngineMessage):
    """feeds.model.PriceHistory: the stored ticks for the chart."""


class StreamChanged(EngineMessage):
    """feeds.model.PriceStreamStatus"""


class AlertArrived(EngineMessage):
    """feeds.model.AlertRaised: an alert rule fired on a new item (toast and/or bell)."""


class ConfigChanged(EngineMessage):
    """feeds.model.ConfigReloaded: the config file was edited (applied or rejected)."""


class OtherEvent(EngineMessage):
    """Anything else the engine says (logged, not shown)."""
