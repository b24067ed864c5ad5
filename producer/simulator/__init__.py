"""A local stand-in for Binance spot: the same WebSocket and REST protocol on loopback, fed by a
seeded market model or by the replay of a capture, with faults injectable on demand."""

from producer.simulator.replay import ReplayOptions
from producer.simulator.server import Simulator

__all__ = ["ReplayOptions", "Simulator"]
