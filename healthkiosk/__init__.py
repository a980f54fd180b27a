"""healthkiosk: self-measurement kiosk for community health stations.

The top-level package holds what every part shares: the command line, the
configuration, logging, the error tree, resident ID numbers and the clinical
rules. The parts themselves live in ``drivers``, ``sync``, ``kiosk`` and
``followup``.
"""

__version__ = "0.1.0"
