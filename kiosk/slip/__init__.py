"""The take-home slip: what it says (:mod:`~kiosk.slip.model`, built from a
visit, no ID number in it, the name masked), in which order and words
(:mod:`~kiosk.slip.layout`), and drawn for a thermal printer
(:mod:`~kiosk.slip.render`, Pillow, imported only when a slip is drawn)."""
