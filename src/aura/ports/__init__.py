"""Protocols the domain needs from the outside world, and the small value types they exchange.

Import from the submodules (`aura.ports.chat_model`, ...); this package stays empty so the domain
and the ports can refer to each other without import cycles.
"""
